# Stand-in for python:<version>-slim-<debian>: Debian's own python3 on the stand-in base.
# The Dockerfile under test only needs `python`/`python3` on PATH and groupadd/useradd.
ARG BASE
FROM ${BASE}
# The machine reaches PyPI through a TLS-inspecting proxy: trust its CA bundle, and tell uv (which otherwise uses
# its own roots) where it is.
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
CMD ["python3"]
