FROM python:3.12-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /app

FROM base AS deps
COPY requirements.txt .
RUN --mount=type=cache,target=/root/.cache/pip \
    --mount=type=bind,source=requirements.txt,target=/tmp/req.txt \
    pip install -r /tmp/req.txt
RUN --mount=type=secret,id=netrc,target=/root/.netrc,required=true pip download private-pkg
RUN --mount=type=ssh git clone git@github.com:org/repo.git
RUN --mount=type=tmpfs,target=/scratch,size=64m du -sh /scratch

FROM deps AS final
COPY --from=deps /usr/local/lib/python3.12 /usr/local/lib/python3.12
COPY . .
EXPOSE 8000
CMD gunicorn -b 0.0.0.0:8000 app:app
