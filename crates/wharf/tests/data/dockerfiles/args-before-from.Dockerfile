ARG BASE_IMAGE=ubuntu
ARG TAG=22.04
FROM --platform=$BUILDPLATFORM ${BASE_IMAGE}:${TAG} AS base
ARG TARGETOS TARGETARCH
RUN echo building for $TARGETOS/$TARGETARCH
FROM base
ARG TAG
ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d https://example.com/a.tar.gz /tmp/
ADD --keep-git-dir=true https://github.com/moby/buildkit.git#v0.10.1 /buildkit
COPY --link --parents ./a/b ./c /dst/
COPY --exclude=*.md . /src
RUN --network=none --security=insecure make
USER 1000:1000
WORKDIR /home/${USER:-app}
