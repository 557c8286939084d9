FROM node:20
ONBUILD ARG NODE_ENV=production
ONBUILD COPY --chown=node:node package*.json ./
ONBUILD RUN npm ci
ONBUILD RUN ["npm", "run", "build"]
onbuild copy . /app
STOPSIGNAL SIGQUIT
LABEL org.opencontainers.image.title="on build" version=1.0 description='single quoted'
LABEL maintainer Jane Doe <jane@example.com>
MAINTAINER Jane Doe
VOLUME /data /logs
VOLUME ["/cache"]
