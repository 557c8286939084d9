# escape=`
# check=skip=JSONArgsRecommended
FROM mcr.microsoft.com/windows/servercore:ltsc2022
SHELL ["powershell", "-Command", "$ErrorActionPreference = 'Stop';"]
RUN New-Item -ItemType Directory C:\app ; `
    Set-Location C:\app
COPY app\ C:\app\
WORKDIR C:\app
ENV PATH="C:\app\bin;${PATH}" `
    MODE=prod
CMD ["C:\\app\\run.exe"]
