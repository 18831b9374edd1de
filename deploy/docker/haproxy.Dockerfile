# HAProxy for docker-compose.yml: Debian 12's haproxy 2.6, the same version test/deploy checks
# deploy/haproxy/haproxy.cfg with. The configuration is mounted read-only by docker-compose.yml;
# curl serves the healthcheck (GET /healthz on the loopback monitor frontend).
#
#   docker build -f deploy/docker/haproxy.Dockerfile -t corridor/haproxy .
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends haproxy curl ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# No root needed: the listen port is above 1024 and nothing is written.
USER 10001:10001
EXPOSE 8443
# SIGUSR1: soft stop (finish open connections, then exit).
STOPSIGNAL SIGUSR1
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
  CMD ["curl", "--fail", "--silent", "--show-error", "http://127.0.0.1:8404/healthz"]
CMD ["haproxy", "-W", "-db", "-f", "/etc/haproxy/haproxy.cfg"]
