// Command carepath runs CarePath's programs.
//
//	carepath api                  serve the REST API
//	carepath worker               run the Temporal worker for journeys
//	carepath migrate              migrate PostgreSQL (as DATABASE_OWNER_URL) and register Temporal search attributes
//	carepath seed                 load the demo data set (idempotent; CAREPATH_ENV=local only)
//	carepath knowledge load       load the treatment and interaction knowledge graph into Neo4j (idempotent)
//	carepath pathways validate FILE...  check pathway definitions
//	carepath stack up             start the whole local stack (what `make run` does)
//	carepath stack exec -- CMD    run CMD with the local services up (what `make test` does)
//	carepath codec keygen ID      print a new payload encryption key for CAREPATH_CODEC_KEYS
//	carepath audit verify         check the audit trail's hash chain; name the first broken row
//	carepath audit verify-key     print the public key that checks the audit checkpoints
//	carepath records rotate-master-key  re-wrap document data keys under the active master key
//
// Configuration comes from the environment; see package config.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/carepath/carepath/config"
)

const usage = `usage: carepath COMMAND [ARGS]

commands:
  api                 serve the REST API on API_ADDR
  worker              run the Temporal worker for journeys
  migrate             migrate PostgreSQL (as DATABASE_OWNER_URL) and register Temporal search attributes
  seed                load the demo data set (loading twice changes nothing); CAREPATH_ENV=local only
  knowledge load      load the knowledge graph into NEO4J_URI (loading twice changes nothing)
  pathways validate FILE...
                      check pathway files; every problem with file:line:column
  pathways list       list the shipped pathways and their versions
  stack up            start every service of the local stack, then the worker and the API
  stack exec -- CMD   start the services CMD needs if they are not running, run CMD, stop them
  codec keygen ID     print a new payload encryption key ("ID:base64") for CAREPATH_CODEC_KEYS
  audit verify        check the audit trail's hash chain and signed checkpoints; exit 1 naming
                      the first broken row, a bad signature or a stale newest checkpoint
  audit verify-key    print the public key for CAREPATH_AUDIT_VERIFY_KEY
  records rotate-master-key
                      re-wrap every document's data key under CAREPATH_RECORDS_ACTIVE_KEY
                      (the documents themselves are not re-encrypted)

Configuration comes from environment variables; see the README. Unset,
CAREPATH_ENV means production: the api and the worker start only with every
secret set. The local stack (make run, make test) sets CAREPATH_ENV=local.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cfg, err := config.Load()
	if err != nil {
		fmt.Fprintf(os.Stderr, "carepath: configuration: %v\n", err)
		os.Exit(2)
	}
	// The API and the worker hold patients' data: outside the local stack
	// they never start on a missing secret or a public local one.
	if cmd := os.Args[1]; cmd == "api" || cmd == "worker" {
		if err := cfg.RequireSecrets(); err != nil {
			fmt.Fprintf(os.Stderr, "carepath %s: configuration: %v\n", cmd, err)
			os.Exit(2)
		}
	}
	logger := cfg.Logger()
	// SIGINT and SIGTERM cancel ctx; each command shuts down gracefully.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var runErr error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "api":
		runErr = runAPI(ctx, cfg, logger)
	case "worker":
		runErr = runWorker(ctx, cfg, logger)
	case "migrate":
		runErr = runMigrate(ctx, cfg, logger)
	case "seed":
		runErr = runSeed(ctx, cfg, logger)
	case "knowledge":
		runErr = runKnowledge(ctx, cfg, logger, args)
	case "pathways":
		os.Exit(runPathways(args, os.Stdout, os.Stderr))
	case "stack":
		var code int
		code, runErr = runStack(ctx, cfg, logger, args)
		if runErr == nil && code != 0 {
			os.Exit(code)
		}
	case "codec":
		runErr = runCodec(os.Stdout, args)
	case "records":
		runErr = runRecords(ctx, cfg, os.Stdout, args)
	case "audit":
		runErr = runAudit(ctx, cfg, os.Stdout, args)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "carepath: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		logger.Error("carepath failed", "command", os.Args[1], "error", runErr)
		os.Exit(1)
	}
}
