# Stand-in for ghcr.io/astral-sh/uv:<version>: the binaries of the uv wheel of that version, at / as upstream.
FROM scratch
COPY uv uvx /
ENTRYPOINT ["/uv"]
