package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/carepath/carepath/config"
	"github.com/carepath/carepath/internal/devstack"
	"github.com/carepath/carepath/store"
)

// runStack implements `carepath stack up` and `carepath stack exec`. It
// returns the exit code of the command `exec` ran.
func runStack(ctx context.Context, cfg config.Config, logger *slog.Logger, args []string) (int, error) {
	if len(args) == 0 {
		return 2, errors.New("stack: want `up` or `exec`")
	}
	// The stack is the local one: its services and the programs it starts
	// (which inherit this environment) run on the local defaults.
	if !cfg.Local() {
		return 2, fmt.Errorf("stack: the local stack runs with CAREPATH_ENV=local only (it is %q); `make run` and `make test` set it", cfg.Env)
	}
	fs := flag.NewFlagSet("stack "+args[0], flag.ContinueOnError)
	only := fs.String("only", "", "comma-separated services to bring up (default: all of "+strings.Join(devstack.ServiceNames, ", ")+")")
	if err := fs.Parse(args[1:]); err != nil {
		return 2, err
	}
	var names []string
	if *only != "" {
		names = strings.Split(*only, ",")
	}
	stack, err := devstack.New(cfg, devstack.Options{})
	if err != nil {
		return 1, err
	}
	switch args[0] {
	case "up":
		return 0, stackUp(ctx, cfg, logger, stack)
	case "exec":
		if fs.NArg() == 0 {
			return 2, errors.New("stack exec: want a command after --")
		}
		return stackExec(ctx, stack, names, fs.Args())
	default:
		return 2, fmt.Errorf("stack: unknown subcommand %q", args[0])
	}
}

// stackUp is `make run`: every service, the schema, the demo data on an empty
// database, the worker and the API; then it waits for Ctrl-C.
func stackUp(ctx context.Context, cfg config.Config, logger *slog.Logger, stack *devstack.Stack) error {
	healthURL := "http://" + cfg.APIAddr + "/api/system/health/check"
	if apiHealthy(ctx, healthURL) == nil {
		fmt.Println("CarePath is already running (another `make run`?); nothing to do.")
		printURLs(cfg)
		return nil
	}
	defer stack.Down()
	if err := stack.Up(ctx, nil); err != nil {
		return err
	}
	if err := migrateAndSeed(ctx, cfg, logger); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	fmt.Println("==> worker       starting")
	workerDone, err := stack.StartProgram("worker", self, "worker")
	if err != nil {
		return err
	}
	fmt.Println("==> api          starting on " + cfg.APIAddr)
	apiDone, err := stack.StartProgram("api", self, "api")
	if err != nil {
		return err
	}
	if err := waitFor(ctx, 60*time.Second, func() error { return apiHealthy(ctx, healthURL) }); err != nil {
		return fmt.Errorf("api: not healthy: %w", err)
	}
	fmt.Println()
	fmt.Println("CarePath is running. The health check says ok.")
	printURLs(cfg)
	fmt.Println("Press Ctrl-C to stop everything.")
	select {
	case <-ctx.Done():
		fmt.Println("\nStopping CarePath...")
		return nil
	case <-workerDone:
		return errors.New("the worker exited; see its log above")
	case <-apiDone:
		return errors.New("the API exited; see its log above")
	}
}

func printURLs(cfg config.Config) {
	fmt.Printf(`
  API            http://%[1]s/api/v1
  Health check   http://%[1]s/api/system/health/check
  API docs       http://%[1]s/docs   (OpenAPI: http://%[1]s/openapi.json)
  Temporal UI    %[2]s
  Neo4j (Bolt)   %[3]s
  PostgreSQL     %[4]s
  Redis          %[5]s
  stripe-mock    %[6]s
  Twilio (fake)  %[7]s
  Pharmacy (sim) %[8]s
  Metrics        http://%[9]s/metrics (API), http://%[10]s/metrics (worker); deploy/ has the
                 Prometheus scrape config and the Grafana dashboard

`, cfg.APIAddr, cfg.TemporalUIURL, cfg.Neo4jURI, config.RedactURL(cfg.DatabaseURL), cfg.RedisURL, cfg.StripeAPIBase, cfg.TwilioAPIBase, cfg.PharmacyAPIBase,
		cfg.MetricsAddr, cfg.WorkerMetricsAddr)
}

// openOwner connects as the owner role (DATABASE_OWNER_URL), which migrates
// and seeds; the API and the worker connect as the application role
// (DATABASE_URL), to which migrations grant its rights.
func openOwner(ctx context.Context, cfg config.Config, logger *slog.Logger) (*store.Store, error) {
	s, err := store.Open(ctx, cfg.DatabaseOwnerURL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_OWNER_URL: %w", err)
	}
	s.AppRole = cfg.AppRole()
	if cfg.DatabaseOwnerURL == cfg.DatabaseURL {
		logger.Warn("DATABASE_OWNER_URL is DATABASE_URL: the API and the worker run as the role that owns the schema, "+
			"so they could rewrite the audit trail and the ledger; see the README's \"On a managed PostgreSQL\"",
			"role", s.AppRole)
	}
	return s, nil
}

func migrateAndSeed(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	s, err := openOwner(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer s.Close()
	applied, err := s.Migrate(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("==> %-12s schema migrated (applied %d new migrations)\n", "migrate", len(applied))
	if err := loadKnowledgeGraph(ctx, cfg, logger); err != nil {
		return err
	}
	empty, err := s.IsEmpty(ctx)
	if err != nil {
		return err
	}
	if !empty {
		fmt.Printf("==> %-12s demo data already loaded\n", "seed")
	} else {
		counts, err := s.Seed(ctx)
		if err != nil {
			return err
		}
		fmt.Printf("==> %-12s demo data loaded: %s\n", "seed", counts)
	}
	// The food composition table is upserted every time too: loading it
	// again changes nothing.
	foods, err := seedFoods(ctx, s)
	if err != nil {
		return err
	}
	fmt.Printf("==> %-12s food composition (IFCT 2017): %d foods\n", "seed", foods)
	// Demo sign-in users are upserted every time, so a database seeded
	// before they existed gets them too.
	users, err := seedDemoUsers(ctx, cfg, s)
	if err != nil {
		return err
	}
	fmt.Printf("==> %-12s demo sign-in users: %d, clients: %d (see README)\n", "seed", users.Users, users.Clients)
	return nil
}

// stackExec is `make test`: bring up what is missing, run the command with
// the local addresses in its environment, stop what was started.
func stackExec(ctx context.Context, stack *devstack.Stack, names, argv []string) (int, error) {
	defer stack.Down()
	if err := stack.Up(ctx, names); err != nil {
		return 1, err
	}
	extra, err := stack.ProgramEnv() // the local payload key, for commands that dial Temporal
	if err != nil {
		return 1, err
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), extra...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 30 * time.Second
	err = cmd.Run()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return exitErr.ExitCode(), nil
	}
	if err != nil {
		return 1, err
	}
	return 0, nil
}

func apiHealthy(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health check: %s", resp.Status)
	}
	return nil
}

func waitFor(ctx context.Context, limit time.Duration, check func() error) error {
	deadline := time.Now().Add(limit)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
