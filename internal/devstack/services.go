package devstack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	tclient "go.temporal.io/sdk/client"

	"github.com/carepath/carepath/config"
	"github.com/carepath/carepath/platform"
)

// service is one infrastructure server of the stack.
type service struct {
	name         string
	addr         string
	startTimeout time.Duration
	healthy      func(context.Context) error
	start        func(context.Context) (*process, error)
	// afterUp runs once the service is healthy; startedHere says whether
	// this stack started it.
	afterUp func(ctx context.Context, startedHere bool) error
}

func noop(context.Context, bool) error { return nil }

func (s *Stack) services() map[string]service {
	return map[string]service{
		"postgres":     s.postgres(),
		"redis":        s.redis(),
		"temporal":     s.temporal(),
		"neo4j":        s.neo4j(),
		"stripe-mock":  s.stripeMock(),
		"twilio-fake":  s.localStandIn("twilio-fake", s.cfg.TwilioAPIBase),
		"pharmacy-sim": s.localStandIn("pharmacy-sim", s.cfg.PharmacyAPIBase),
	}
}

// --- PostgreSQL ---------------------------------------------------------

func (s *Stack) postgres() service {
	addr, _ := hostPort(s.cfg.DatabaseURL, "5432")
	dir := filepath.Join(s.dataDir, "postgres")
	return service{
		name: "postgres", addr: addr, startTimeout: 60 * time.Second,
		healthy: func(ctx context.Context) error {
			// Up means it accepts connections; the CarePath role may not exist yet.
			return dialTCP(ctx, addr)
		},
		start: func(ctx context.Context) (*process, error) {
			bin, err := postgresBinDir()
			if err != nil {
				return nil, err
			}
			cred, err := postgresCredential()
			if err != nil {
				return nil, err
			}
			if err := s.initPostgres(ctx, bin, dir, cred); err != nil {
				return nil, err
			}
			host, port, _ := net.SplitHostPort(addr)
			// SIGINT is PostgreSQL's "fast" shutdown: it ends sessions and checkpoints.
			return s.spawn("postgres", syscall.SIGINT, nil, cred, filepath.Join(bin, "postgres"), "-D", dir,
				"-c", "listen_addresses="+host, "-p", port, "-k", dir, "-c", "fsync=on")
		},
		afterUp: func(ctx context.Context, _ bool) error {
			// The local cluster trusts its own socket, so it is bootstrapped
			// here; any other server is its operator's to prepare.
			if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); err == nil {
				if err := s.bootstrapPostgres(ctx, dir); err != nil {
					return err
				}
			}
			for _, u := range []struct{ name, url string }{
				{"DATABASE_OWNER_URL", s.cfg.DatabaseOwnerURL}, {"DATABASE_URL", s.cfg.DatabaseURL},
			} {
				conn, err := connectWhenStarted(ctx, u.url)
				if err != nil {
					return fmt.Errorf("a PostgreSQL answers at %s but %s cannot connect (%v): "+
						"stop that server so the stack can start its own, or point %s at a database CarePath may use "+
						"(README: \"On a managed PostgreSQL\")", addr, u.name, err, u.name)
				}
				if err := conn.Close(ctx); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

func (s *Stack) initPostgres(ctx context.Context, bin, dir string, cred *syscall.Credential) error {
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); err == nil {
		return nil
	}
	s.progress("postgres", "creating a cluster in %s", s.rel(dir))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return err
		}
	}
	p, err := s.spawn("postgres-initdb", syscall.SIGTERM, nil, cred, filepath.Join(bin, "initdb"),
		"-D", dir, "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8")
	if err != nil {
		return err
	}
	select {
	case <-p.exited:
	case <-ctx.Done():
		return ctx.Err()
	}
	if p.exitErr != nil {
		return fmt.Errorf("initdb: %w; see %s", p.exitErr, s.rel(s.logPath("postgres-initdb")))
	}
	return nil
}

// connectWhenStarted connects to PostgreSQL, waiting while the server
// answers "the database system is starting up" (SQLSTATE 57P03): after an
// unclean stop the port opens before crash recovery has finished.
func connectWhenStarted(ctx context.Context, dsn string) (*pgx.Conn, error) {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		conn, err := pgx.Connect(ctx, dsn)
		var pgErr *pgconn.PgError
		if err == nil || !errors.As(err, &pgErr) || pgErr.Code != "57P03" || time.Now().After(deadline) {
			return conn, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// bootstrapPostgres creates CarePath's two roles, the owner (DATABASE_OWNER_URL's
// user, who owns the application and test databases and runs migrations)
// and the application role (DATABASE_URL's user, which the API, the worker
// and the tests connect as, and which owns nothing), each with LOGIN and the
// URL's password, and the databases named in DATABASE_OWNER_URL and the test
// database URL. Migration 0017 then grants the application role its rights.
func (s *Stack) bootstrapPostgres(ctx context.Context, socketDir string) error {
	owner, err := url.Parse(s.cfg.DatabaseOwnerURL)
	if err != nil {
		return err
	}
	app, err := url.Parse(s.cfg.DatabaseURL)
	if err != nil {
		return err
	}
	test, err := url.Parse(envOr("CAREPATH_TEST_DATABASE_URL", config.DefaultTestDatabaseURL))
	if err != nil {
		return err
	}
	port := owner.Port()
	if port == "" {
		port = "5432"
	}
	conn, err := connectWhenStarted(ctx, fmt.Sprintf("host=%s port=%s user=postgres dbname=postgres", socketDir, port))
	if err != nil {
		return fmt.Errorf("bootstrap: connect over the local socket: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, u := range []*url.URL{owner, app} {
		if err := createLoginRole(ctx, conn, u); err != nil {
			return err
		}
	}
	role := owner.User.Username()
	for _, db := range []string{dbName(owner), dbName(test)} {
		var exists bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, db).Scan(&exists); err != nil {
			return err
		}
		if exists {
			continue
		}
		if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s OWNER %s",
			pgx.Identifier{db}.Sanitize(), pgx.Identifier{role}.Sanitize())); err != nil {
			return fmt.Errorf("bootstrap: create database %s: %w", db, err)
		}
		s.progress("postgres", "created database %s", db)
	}
	return nil
}

// createLoginRole creates the URL's user with LOGIN and its password when
// the role does not exist. A role that exists is left as it is, except that
// one without LOGIN gets it: migration 0017 creates the application role
// NOLOGIN when a migration ran before the stack could create it.
func createLoginRole(ctx context.Context, conn *pgx.Conn, u *url.URL) error {
	role := u.User.Username()
	password, _ := u.User.Password()
	var exists, canLogin bool
	err := conn.QueryRow(ctx, `SELECT true, rolcanlogin FROM pg_roles WHERE rolname = $1`, role).Scan(&exists, &canLogin)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	switch {
	case !exists:
		_, err = conn.Exec(ctx, fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD %s", pgx.Identifier{role}.Sanitize(), quoteLiteral(password)))
	case !canLogin:
		_, err = conn.Exec(ctx, fmt.Sprintf("ALTER ROLE %s LOGIN PASSWORD %s", pgx.Identifier{role}.Sanitize(), quoteLiteral(password)))
	}
	if err != nil {
		return fmt.Errorf("bootstrap: create role %s: %w", role, err)
	}
	return nil
}

func dbName(u *url.URL) string { return filepath.Base(u.Path) }

func quoteLiteral(v string) string {
	out := []rune{'\''}
	for _, r := range v {
		if r == '\'' {
			out = append(out, '\'')
		}
		out = append(out, r)
	}
	return string(append(out, '\''))
}

// postgresBinDir finds PostgreSQL's server programs (Debian keeps them out of PATH).
func postgresBinDir() (string, error) {
	candidates, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	for i := len(candidates) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(candidates[i], "postgres")); err == nil {
			return candidates[i], nil
		}
	}
	return "", errors.New("PostgreSQL server is not installed; run `make tools`")
}

// postgresCredential: PostgreSQL refuses to run as root, so as root the
// cluster runs as the unprivileged postgres user the Debian package creates.
func postgresCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs the postgres user (from the postgresql package): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// --- Redis --------------------------------------------------------------

// quietRedisLogger replaces go-redis's log of failed dials: while the stack
// probes for Redis, a refused dial is the expected answer.
type quietRedisLogger struct{}

func (quietRedisLogger) Printf(context.Context, string, ...any) {}

func (s *Stack) redis() service {
	addr, _ := hostPort(s.cfg.RedisURL, "6379")
	return service{
		name: "redis", addr: addr, startTimeout: 20 * time.Second,
		healthy: func(ctx context.Context) error {
			c, err := platform.OpenRedis(s.cfg.RedisURL)
			if err != nil {
				return err
			}
			defer c.Close()
			return c.Ping(ctx).Err()
		},
		start: func(context.Context) (*process, error) {
			bin, err := s.lookTool("redis-server")
			if err != nil {
				return nil, err
			}
			dir := filepath.Join(s.dataDir, "redis")
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, err
			}
			host, port, _ := net.SplitHostPort(addr)
			return s.spawn("redis", syscall.SIGTERM, nil, nil, bin, "--bind", host, "--port", port,
				"--dir", dir, "--appendonly", "yes", "--save", "", "--daemonize", "no")
		},
		afterUp: noop,
	}
}

// --- Temporal -----------------------------------------------------------

func (s *Stack) temporal() service {
	addr := s.cfg.TemporalAddress
	return service{
		name: "temporal", addr: addr, startTimeout: 120 * time.Second,
		healthy: func(ctx context.Context) error {
			c, err := tclient.DialContext(ctx, tclient.Options{HostPort: addr, Namespace: s.cfg.TemporalNamespace, Logger: quietTemporalLogger{}})
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = c.CheckHealth(ctx, &tclient.CheckHealthRequest{})
			return err
		},
		start: func(context.Context) (*process, error) {
			bin, err := s.lookTool("temporal")
			if err != nil {
				return nil, err
			}
			dir := filepath.Join(s.dataDir, "temporal")
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, err
			}
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, fmt.Errorf("TEMPORAL_ADDRESS: %w", err)
			}
			uiPort := "8233"
			if u, err := url.Parse(s.cfg.TemporalUIURL); err == nil && u.Port() != "" {
				uiPort = u.Port()
			}
			return s.spawn("temporal", syscall.SIGTERM, nil, nil, bin, "server", "start-dev",
				"--ip", host, "--port", port, "--ui-port", uiPort,
				"--namespace", s.cfg.TemporalNamespace,
				"--db-filename", filepath.Join(dir, "temporal.db"), "--log-level", "warn",
				// The UI decrypts payloads through the API's codec routes, in
				// the coordinator's browser; the server keeps only ciphertext.
				"--ui-codec-endpoint", s.codecEndpoint())
		},
		afterUp: func(ctx context.Context, _ bool) error {
			c, err := tclient.DialContext(ctx, tclient.Options{HostPort: addr, Namespace: s.cfg.TemporalNamespace, Logger: quietTemporalLogger{}})
			if err != nil {
				return err
			}
			defer c.Close()
			added, err := platform.RegisterSearchAttributes(ctx, c, s.cfg.TemporalNamespace)
			if err != nil {
				return err
			}
			if len(added) > 0 {
				s.progress("temporal", "registered search attributes %v", added)
			}
			return nil
		},
	}
}

// --- Neo4j --------------------------------------------------------------

func (s *Stack) neo4j() service {
	addr, _ := hostPort(s.cfg.Neo4jURI, "7687")
	return service{
		name: "neo4j", addr: addr, startTimeout: 180 * time.Second,
		healthy: func(ctx context.Context) error {
			d, err := platform.OpenNeo4j(s.cfg)
			if err != nil {
				return err
			}
			defer d.Close(context.WithoutCancel(ctx))
			return d.VerifyConnectivity(ctx)
		},
		start: func(context.Context) (*process, error) {
			java, err := s.lookTool("java")
			if err != nil {
				return nil, err
			}
			launcher := filepath.Join(s.root, "knowledge", "neo4j-launcher", "target")
			if _, err := os.Stat(filepath.Join(launcher, "classes")); err != nil {
				return nil, errors.New("the Neo4j launcher is not built; run `make tools`")
			}
			classpath := filepath.Join(launcher, "classes") + string(os.PathListSeparator) + filepath.Join(launcher, "lib", "*")
			return s.spawn("neo4j", syscall.SIGTERM,
				[]string{"NEO4J_HOME=" + filepath.Join(s.dataDir, "neo4j"), "NEO4J_BOLT_ADDRESS=" + addr},
				nil, java, "-Xms256m", "-Xmx1g", "-XX:+UseG1GC", "-cp", classpath, "health.carepath.neo4j.Launcher")
		},
		afterUp: noop,
	}
}

// --- stripe-mock --------------------------------------------------------

func (s *Stack) stripeMock() service {
	addr, _ := hostPort(s.cfg.StripeAPIBase, "12111")
	return service{
		name: "stripe-mock", addr: addr, startTimeout: 30 * time.Second,
		healthy: func(ctx context.Context) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.cfg.StripeAPIBase+"/v1/balance", nil)
			if err != nil {
				return err
			}
			req.SetBasicAuth(s.cfg.StripeSecretKey, "")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("GET /v1/balance: %s", resp.Status)
			}
			return nil
		},
		start: func(context.Context) (*process, error) {
			bin, err := s.lookTool("stripe-mock")
			if err != nil {
				return nil, err
			}
			// stripe-mock also serves HTTPS (on 12112 unless told otherwise);
			// a port of the system's choosing keeps two stacks from colliding.
			host, _, _ := net.SplitHostPort(addr)
			return s.spawn("stripe-mock", syscall.SIGTERM, nil, nil, bin, "-http-addr", addr, "-https-addr", host+":")
		},
		afterUp: noop,
	}
}

// --- Stand-ins for third parties that cannot run here ------------------
// The fake Twilio (Twilio's API) and pharmacy-sim (a pharmacy partner),
// both built into bin/ by `make build`. Each is managed only when its base
// URL is on loopback; otherwise it is the real provider, with nothing to
// start and nothing to probe from here.

func (s *Stack) localStandIn(name, baseURL string) service {
	addr, _ := hostPort(baseURL, "80")
	host, _, _ := net.SplitHostPort(addr)
	loopback := host == "localhost" || net.ParseIP(host).IsLoopback()
	return service{
		name: name, addr: addr, startTimeout: 20 * time.Second,
		healthy: func(ctx context.Context) error {
			if !loopback {
				return nil
			}
			return dialTCP(ctx, addr)
		},
		start: func(context.Context) (*process, error) {
			bin := filepath.Join(s.root, "bin", name)
			if _, err := os.Stat(bin); err != nil {
				return nil, fmt.Errorf("bin/%s is not built; run `make build`", name)
			}
			return s.spawn(name, syscall.SIGTERM, nil, nil, bin)
		},
		afterUp: noop,
	}
}

func dialTCP(ctx context.Context, addr string) error {
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return conn.Close()
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

// quietTemporalLogger drops the SDK's own logs while probing for health.
type quietTemporalLogger struct{}

func (quietTemporalLogger) Debug(string, ...any) {}
func (quietTemporalLogger) Info(string, ...any)  {}
func (quietTemporalLogger) Warn(string, ...any)  {}
func (quietTemporalLogger) Error(string, ...any) {}
