// Package devstack runs CarePath's local stack: PostgreSQL, Redis, the
// Temporal dev server, Neo4j (embedded, through the launcher in knowledge/)
// and stripe-mock, each as a real server on loopback. It reuses any service
// that already answers at its configured address, starts the others as child
// processes with their data under one folder, waits until each is healthy,
// and stops what it started, in reverse order.
//
// `make tools` installs the programs it runs; the stack only looks for them.
package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/carepath/carepath/config"
)

// Stack is one run of the local stack.
type Stack struct {
	cfg      config.Config
	root     string // repository root
	dataDir  string // where services keep their state
	toolsBin string // where `make tools` puts the binaries it builds
	out      io.Writer

	mu      sync.Mutex
	started []*process // in start order; stopped in reverse
}

// Options locate the stack on disk. Empty fields take defaults:
// Root is found from the working directory (the folder with go.mod),
// DataDir is $CAREPATH_DATA_DIR or Root/.data, ToolsBin is
// $CAREPATH_CACHE/bin or ~/.cache/carepath/bin.
type Options struct {
	Root, DataDir, ToolsBin string
	Out                     io.Writer
}

// New prepares a stack; nothing starts until Up.
func New(cfg config.Config, o Options) (*Stack, error) {
	if o.Root == "" {
		root, err := findRoot()
		if err != nil {
			return nil, err
		}
		o.Root = root
	}
	if o.DataDir == "" {
		o.DataDir = os.Getenv("CAREPATH_DATA_DIR")
		if o.DataDir == "" {
			o.DataDir = filepath.Join(o.Root, ".data")
		}
	}
	if o.ToolsBin == "" {
		o.ToolsBin = filepath.Join(CacheDir(), "bin")
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	redis.SetLogger(quietRedisLogger{})
	dataDir, err := filepath.Abs(o.DataDir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dataDir, "logs"), 0o755); err != nil {
		return nil, fmt.Errorf("devstack: data folder: %w", err)
	}
	return &Stack{cfg: cfg, root: o.Root, dataDir: dataDir, toolsBin: o.ToolsBin, out: o.Out}, nil
}

// CacheDir is where tools built for the stack are cached between runs.
func CacheDir() string {
	if dir := os.Getenv("CAREPATH_CACHE"); dir != "" {
		return dir
	}
	if dir, err := os.UserCacheDir(); err == nil {
		return filepath.Join(dir, "carepath")
	}
	return filepath.Join(os.TempDir(), "carepath-cache")
}

// ServiceNames lists the infrastructure services in start order.
var ServiceNames = []string{"postgres", "redis", "temporal", "neo4j", "stripe-mock", "twilio-fake", "pharmacy-sim"}

// Up brings up the named services (all when names is empty): it reuses those
// already answering and starts the rest side by side, then waits for each.
func (s *Stack) Up(ctx context.Context, names []string) error {
	if len(names) == 0 {
		names = ServiceNames
	}
	var services []service
	for _, name := range names {
		svc, ok := s.services()[name]
		if !ok {
			return fmt.Errorf("devstack: unknown service %q (known: %s)", name, strings.Join(ServiceNames, ", "))
		}
		services = append(services, svc)
	}
	errs := make([]error, len(services))
	var wg sync.WaitGroup
	for i, svc := range services {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.bringUp(ctx, svc)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (s *Stack) bringUp(ctx context.Context, svc service) error {
	begin := time.Now()
	if err := probe(ctx, svc.healthy, 3*time.Second); err == nil {
		s.progress(svc.name, "already running at %s: reusing it", svc.addr)
		return svc.afterUp(ctx, false)
	}
	s.progress(svc.name, "starting on %s (log: %s)", svc.addr, s.rel(s.logPath(svc.name)))
	p, err := svc.start(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", svc.name, err)
	}
	s.mu.Lock()
	s.started = append(s.started, p)
	s.mu.Unlock()
	if err := s.waitHealthy(ctx, svc, p); err != nil {
		return err
	}
	if err := svc.afterUp(ctx, true); err != nil {
		return fmt.Errorf("%s: %w", svc.name, err)
	}
	s.progress(svc.name, "ready in %.1fs", time.Since(begin).Seconds())
	return nil
}

func (s *Stack) waitHealthy(ctx context.Context, svc service, p *process) error {
	deadline := time.Now().Add(svc.startTimeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited during start (%v); see %s", svc.name, p.exitErr, s.rel(s.logPath(svc.name)))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
		if last = probe(ctx, svc.healthy, 3*time.Second); last == nil {
			return nil
		}
	}
	return fmt.Errorf("%s not healthy after %s (last error: %v); see %s", svc.name, svc.startTimeout, last, s.rel(s.logPath(svc.name)))
}

// Down stops every process this stack started, newest first.
func (s *Stack) Down() {
	s.mu.Lock()
	started := slices.Clone(s.started)
	s.started = nil
	s.mu.Unlock()
	for i := len(started) - 1; i >= 0; i-- {
		p := started[i]
		s.progress(p.name, "stopping")
		if err := p.stop(30 * time.Second); err != nil {
			s.progress(p.name, "did not stop cleanly: %v", err)
			continue
		}
		s.progress(p.name, "stopped")
	}
}

// StartedAny reports whether this stack started any process.
func (s *Stack) StartedAny() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.started) > 0
}

func (s *Stack) progress(name, format string, args ...any) {
	fmt.Fprintf(s.out, "==> %-12s %s\n", name, fmt.Sprintf(format, args...))
}

func (s *Stack) logPath(name string) string { return filepath.Join(s.dataDir, "logs", name+".log") }

func (s *Stack) rel(path string) string {
	if r, err := filepath.Rel(s.root, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}

// process is a child process in its own process group, so a Ctrl-C in the
// terminal reaches only the launcher, which then stops children in order.
type process struct {
	name    string
	cmd     *exec.Cmd
	signal  syscall.Signal // the signal that asks it to shut down cleanly
	exited  chan struct{}
	exitErr error
	log     *os.File
}

func (s *Stack) spawn(name string, sig syscall.Signal, env []string, cred *syscall.Credential, argv ...string) (*process, error) {
	logFile, err := os.OpenFile(s.logPath(name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = s.root
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	p := &process{name: name, cmd: cmd, signal: sig, exited: make(chan struct{}), log: logFile}
	go func() {
		p.exitErr = cmd.Wait()
		_ = logFile.Close()
		close(p.exited)
	}()
	return p, nil
}

func (p *process) stop(grace time.Duration) error {
	select {
	case <-p.exited:
		return nil
	default:
	}
	if err := syscall.Kill(-p.cmd.Process.Pid, p.signal); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	select {
	case <-p.exited:
		return nil
	case <-time.After(grace):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
		return fmt.Errorf("killed after %s", grace)
	}
}

// probe runs a health function with a time limit.
func probe(ctx context.Context, fn func(context.Context) error, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	return fn(ctx)
}

func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("devstack: run from inside the CarePath repository (no go.mod found)")
		}
		dir = parent
	}
}

// hostPort returns the host:port of a URL, with defaultPort when it has none.
func hostPort(raw, defaultPort string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = defaultPort
	}
	return net.JoinHostPort(host, port), nil
}

// lookTool finds a program in the tools folder, then on PATH, then in the
// extra folders given.
func (s *Stack) lookTool(name string, extra ...string) (string, error) {
	for _, dir := range append([]string{s.toolsBin}, extra...) {
		path := filepath.Join(dir, name)
		if info, err := os.Stat(path); err == nil && !info.IsDir() && info.Mode()&0o111 != 0 {
			return path, nil
		}
	}
	if path, err := exec.LookPath(name); err == nil {
		return path, nil
	}
	return "", fmt.Errorf("%s is not installed; run `make tools`", name)
}

// StartProgram starts one of CarePath's own programs (the worker, the API)
// with its output on the launcher's terminal; Down stops it with SIGTERM,
// which it answers with a graceful shutdown.
func (s *Stack) StartProgram(name string, argv ...string) (done <-chan struct{}, err error) {
	env, err := s.ProgramEnv()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = s.root
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, signal: syscall.SIGTERM, exited: make(chan struct{})}
	go func() {
		p.exitErr = cmd.Wait()
		close(p.exited)
	}()
	s.mu.Lock()
	s.started = append(s.started, p)
	s.mu.Unlock()
	return p.exited, nil
}
