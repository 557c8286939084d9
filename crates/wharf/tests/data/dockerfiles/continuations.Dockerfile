FROM busybox
# a comment before
RUN echo one \
    # a comment inside a continuation
    two \

    three
RUN set -x; \
  for i in 1 2 3; do \
	echo $i; \
  done
ENV A=1 \
    B="two words" \
    C=three\ words
ENV OLD style value with spaces
ARG BUILD_DATE
ARG VERSION=dev REVISION
EXPOSE 80 443/tcp \
       53/udp
HEALTHCHECK NONE
RUN echo trailing backslash at the end \
