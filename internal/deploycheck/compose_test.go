package deploycheck

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const (
	repoRoot    = "../.."
	composeFile = repoRoot + "/docker-compose.yml"
	dockerfile  = repoRoot + "/Dockerfile"
)

// The services of the stack, and the ones that run the CarePath image.
var (
	stackServices    = []string{"postgres", "redis", "neo4j", "stripe-mock", "temporal", "temporal-ui", "migrate", "knowledge-load", "api", "worker"}
	carepathServices = []string{"migrate", "api", "worker"}
)

// The variables every CarePath service must get from compose, so that none of
// them falls back to its loopback default inside a container.
var requiredEnv = []string{"DATABASE_URL", "TEMPORAL_ADDRESS", "REDIS_URL", "NEO4J_URI", "STRIPE_API_BASE"}

// project is the part of `docker compose config --format json` checked here.
type project struct {
	Services map[string]service `json:"services"`
}

type service struct {
	Image string `json:"image"`
	Build *struct {
		Context    string `json:"context"`
		Dockerfile string `json:"dockerfile"`
	} `json:"build"`
	Command     []string           `json:"command"`
	Environment map[string]*string `json:"environment"`
	DependsOn   map[string]struct {
		Condition string `json:"condition"`
	} `json:"depends_on"`
	Healthcheck *struct {
		Test    []string `json:"test"`
		Disable bool     `json:"disable"`
	} `json:"healthcheck"`
	Ports []struct {
		HostIP    string `json:"host_ip"`
		Published string `json:"published"`
		Target    int    `json:"target"`
	} `json:"ports"`
}

// compose runs `docker compose -f docker-compose.yml ARGS...` and returns its
// standard output. It fails the test, with the output, if the command fails,
// and fails it with a hint if the Compose plugin is missing: these checks
// are never skipped.
func compose(t *testing.T, args ...string) []byte {
	t.Helper()
	requireCompose(t)
	cmd := exec.Command("docker", append([]string{"compose", "-f", composeFile}, args...)...)
	// The file demands a payload key (it has no default on purpose); a
	// throwaway one lets the configuration be checked.
	cmd.Env = append(os.Environ(), "CAREPATH_CODEC_KEYS=check:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("docker compose -f %s %s: %v\nstdout:\n%s\nstderr:\n%s",
			composeFile, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.Bytes()
}

// Without a payload key, the file refuses to configure at all.
func TestComposeDemandsAPayloadKey(t *testing.T) {
	requireCompose(t)
	cmd := exec.Command("docker", "compose", "-f", composeFile, "config", "-q")
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CAREPATH_CODEC_KEYS=") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "CAREPATH_CODEC_KEYS") {
		t.Fatalf("compose config without a key should fail naming CAREPATH_CODEC_KEYS: %v\n%s", err, out)
	}
}

func requireCompose(t *testing.T) {
	t.Helper()
	const hint = "run scripts/install-compose.sh or `make test` to install the Docker Compose v2 plugin"
	if _, err := exec.LookPath("docker"); err != nil {
		t.Fatalf("the docker CLI is not on PATH (%v); install it, then %s", err, hint)
	}
	if out, err := exec.Command("docker", "compose", "version").CombinedOutput(); err != nil {
		t.Fatalf("`docker compose` is not available (%v: %s); %s", err, strings.TrimSpace(string(out)), hint)
	}
}

func loadProject(t *testing.T) project {
	t.Helper()
	out := compose(t, "config", "--format", "json")
	var p project
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("parse `docker compose config --format json` output: %v\n%s", err, out)
	}
	return p
}

func TestComposeConfigIsValid(t *testing.T) {
	compose(t, "config", "-q")
}

func TestComposeServices(t *testing.T) {
	p := loadProject(t)
	for _, name := range stackServices {
		if _, ok := p.Services[name]; !ok {
			t.Errorf("service %q is missing; services: %v", name, sortedKeys(p.Services))
		}
	}
}

func TestCarePathServicesAreBuiltFromDockerfile(t *testing.T) {
	p := loadProject(t)
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range carepathServices {
		s, ok := p.Services[name]
		if !ok {
			t.Errorf("service %q is missing", name)
			continue
		}
		switch {
		case s.Build == nil:
			t.Errorf("%s: no build section; it must be built from the Dockerfile", name)
		case filepath.Clean(s.Build.Context) != root:
			t.Errorf("%s: build context %q, want the repository root %q", name, s.Build.Context, root)
		case s.Build.Dockerfile != "Dockerfile":
			t.Errorf("%s: built from %q, want Dockerfile", name, s.Build.Dockerfile)
		}
		if want := []string{name}; !slices.Equal(s.Command, want) {
			t.Errorf("%s: command %q, want %q", name, s.Command, want)
		}
	}
}

func TestCarePathEnvironment(t *testing.T) {
	p := loadProject(t)
	for _, name := range carepathServices {
		s := p.Services[name]
		for _, key := range requiredEnv {
			v := s.Environment[key]
			if v == nil || *v == "" {
				t.Errorf("%s: environment does not set %s", name, key)
				continue
			}
			// Inside the compose network a dependency is reached by its
			// service name, never by loopback.
			if host := hostOf(*v); host != "" {
				if _, ok := p.Services[host]; !ok {
					t.Errorf("%s: %s=%q points at %q, which is not a compose service", name, key, *v, host)
				}
			}
		}
	}
	for _, name := range carepathServices {
		if v := p.Services[name].Environment["CAREPATH_CODEC_KEYS"]; v == nil || *v == "" {
			t.Errorf("%s: payloads would not be encrypted: CAREPATH_CODEC_KEYS is not passed", name)
		}
	}
	if v := p.Services["api"].Environment["API_ADDR"]; v == nil || !strings.HasPrefix(*v, "0.0.0.0:") {
		t.Errorf("api: API_ADDR must listen on 0.0.0.0 inside the container, got %v", deref(v))
	}
}

func TestStartOrder(t *testing.T) {
	p := loadProject(t)
	want := map[string]map[string]string{
		"migrate":        {"postgres": "service_healthy", "temporal": "service_healthy"},
		"knowledge-load": {"neo4j": "service_healthy"},
		"api":            {"migrate": "service_completed_successfully", "knowledge-load": "service_completed_successfully"},
		"worker":         {"migrate": "service_completed_successfully"},
	}
	for name, deps := range want {
		for dep, cond := range deps {
			if got := p.Services[name].DependsOn[dep].Condition; got != cond {
				t.Errorf("%s: depends_on %s with condition %q, want %q", name, dep, got, cond)
			}
		}
	}
}

func TestHealthchecks(t *testing.T) {
	p := loadProject(t)
	// Every long-running service that serves a port; migrate is a one-shot
	// and the worker serves nothing.
	for _, name := range []string{"postgres", "redis", "neo4j", "stripe-mock", "temporal", "temporal-ui", "api"} {
		hc := p.Services[name].Healthcheck
		if hc == nil || hc.Disable || len(hc.Test) == 0 {
			t.Errorf("%s: no healthcheck", name)
		}
	}
}

func TestPortsArePublishedOnLoopbackOnly(t *testing.T) {
	p := loadProject(t)
	for name, s := range p.Services {
		for _, port := range s.Ports {
			if port.HostIP != "127.0.0.1" {
				t.Errorf("%s: port %d is published on %q, want 127.0.0.1", name, port.Target, port.HostIP)
			}
		}
	}
}

func TestDockerfile(t *testing.T) {
	f, err := os.Open(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var froms []string
	var entrypoint string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		switch strings.ToUpper(fields[0]) {
		case "FROM":
			froms = append(froms, strings.Join(fields[1:], " "))
		case "ENTRYPOINT":
			entrypoint = strings.Join(fields[1:], " ")
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(froms) < 2 {
		t.Errorf("Dockerfile has %d FROM stage(s) %q; want a multi-stage build (at least 2)", len(froms), froms)
	}
	if entrypoint != `["/carepath"]` {
		t.Errorf(`Dockerfile ENTRYPOINT is %q, want ["/carepath"]`, entrypoint)
	}
}

func TestDockerignore(t *testing.T) {
	data, err := os.ReadFile(repoRoot + "/.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			patterns = append(patterns, strings.TrimSuffix(line, "/"))
		}
	}
	for _, want := range []string{".data", ".git", "bin", "knowledge/neo4j-launcher/target", "node_modules"} {
		if !slices.Contains(patterns, want) {
			t.Errorf(".dockerignore does not exclude %s; patterns: %q", want, patterns)
		}
	}
}

// hostOf returns the host of a URL ("postgres://u@postgres:5432/db") or of a
// host:port address ("temporal:7233"), or "" if v is neither.
func hostOf(v string) string {
	if u, err := url.Parse(v); err == nil && u.Host != "" {
		return u.Hostname()
	}
	if host, _, err := net.SplitHostPort(v); err == nil {
		return host
	}
	return ""
}

func deref(p *string) string {
	if p == nil {
		return "<unset>"
	}
	return *p
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
