// Package deploycheck checks CarePath's deployment files: the Dockerfile,
// .dockerignore and docker-compose.yml at the repository root.
//
// It holds tests only. They run `docker compose config`, which validates and
// renders the compose file without a Docker engine, and then check the
// rendered project: every service of the stack is there, the CarePath
// services are built from the Dockerfile and get the environment the
// programs read, start in the right order, and publish ports on loopback
// only. The tests need the Docker CLI with the Compose v2 plugin, and fail
// (never skip) without it; scripts/install-compose.sh installs the plugin.
package deploycheck
