FROM debian:bookworm-slim
RUN <<EOF
set -e
apt-get update
apt-get install -y curl
EOF
RUN <<-"SCRIPT" bash
	echo "tabs are stripped"
	echo $HOME stays literal
	SCRIPT
COPY <<EOT /etc/motd
Welcome, ${USER:-friend}
EOT
COPY <<one.txt <<two.txt /srv/
first
one.txt
second
two.txt
RUN 3<<FD cat <&3
from fd three
FD
RUN python3 <<'PY'
print("hello from a heredoc")
PY
ONBUILD RUN <<X
echo in onbuild
X
RUN ["echo", "<<NOTHEREDOC"]
