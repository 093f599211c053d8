package devstack

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carepath/carepath/config"
)

func newTestStack(t *testing.T, cfg config.Config) *Stack {
	t.Helper()
	s, err := New(cfg, Options{Root: t.TempDir(), DataDir: t.TempDir(), Out: &bytes.Buffer{}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStackGeneratesOneKeyAndTheProgramsReadIt(t *testing.T) {
	s := newTestStack(t, config.Config{APIAddr: config.DefaultAPIAddr})
	first, err := s.ensureCodecKey()
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(s.CodecKeyFile())
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", info.Mode().Perm())
	}
	if dir, _ := os.Stat(filepath.Dir(s.CodecKeyFile())); dir.Mode().Perm() != 0o700 {
		t.Errorf("secrets folder mode %v, want 0700", dir.Mode().Perm())
	}
	again, err := s.ensureCodecKey()
	if err != nil || again != first {
		t.Fatalf("second run changed the key (or failed: %v)", err)
	}
	// A program started by hand on the local stack finds the same key
	// through config (local defaults apply only with CAREPATH_ENV=local).
	cfg, err := config.FromLookup(func(k string) (string, bool) {
		switch k {
		case "CAREPATH_DATA_DIR":
			return s.dataDir, true
		case "CAREPATH_ENV":
			return config.LocalEnv, true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.CodecKeys) != 1 || cfg.CodecKeys[0].Export() != first {
		t.Fatalf("config read %v from the data folder, want the stack's key", cfg.CodecKeys)
	}
}

func TestConcurrentFirstRunsAgreeOnOneKey(t *testing.T) {
	s := newTestStack(t, config.Config{APIAddr: config.DefaultAPIAddr})
	keys := make([]string, 8)
	errs := make([]error, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys[i], errs[i] = s.ensureCodecKey()
		}()
	}
	wg.Wait()
	for i := range keys {
		if errs[i] != nil || keys[i] != keys[0] {
			t.Fatalf("run %d: %v; keys differ: %v", i, errs[i], keys[i] != keys[0])
		}
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(s.CodecKeyFile()), ".codec-keys-*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}
}

func TestProgramsGetTheKeyThroughTheirEnvironment(t *testing.T) {
	t.Setenv("CAREPATH_CODEC_KEYS", "")
	s := newTestStack(t, config.Config{APIAddr: config.DefaultAPIAddr})
	out := filepath.Join(t.TempDir(), "seen")
	done, err := s.StartProgram("env-probe", "/bin/sh", "-c", `printf %s "$CAREPATH_CODEC_KEYS" > "$0"`, out)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the probe did not exit")
	}
	seen, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := s.ensureCodecKey()
	if err != nil {
		t.Fatal(err)
	}
	if string(seen) != want {
		t.Fatal("the program did not get the stack's key in CAREPATH_CODEC_KEYS")
	}
}

func TestOperatorKeysWinOverTheStacksKey(t *testing.T) {
	t.Setenv("CAREPATH_CODEC_KEYS", "ops-1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
	s := newTestStack(t, config.Config{APIAddr: config.DefaultAPIAddr})
	env, err := s.ProgramEnv()
	if err != nil || len(env) != 0 {
		t.Fatalf("programEnv = %v, %v; want nothing added", env, err)
	}
	if _, err := os.Stat(s.CodecKeyFile()); err == nil {
		t.Fatal("the stack generated a key although the operator set one")
	}
}

func TestCodecEndpointIsWhereABrowserFindsTheAPI(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:8080": "http://127.0.0.1:8080/api/codec",
		"0.0.0.0:9090":   "http://127.0.0.1:9090/api/codec",
		":8081":          "http://127.0.0.1:8081/api/codec",
		"[::1]:8080":     "http://[::1]:8080/api/codec",
	} {
		s := &Stack{cfg: config.Config{APIAddr: addr}}
		if got := s.codecEndpoint(); got != want {
			t.Errorf("APIAddr %s: %s, want %s", addr, got, want)
		}
	}
}

// The flag the stack passes must exist in the Temporal CLI that
// `make tools` builds; a renamed flag would stop the dev server starting.
func TestTemporalCLIHasTheUICodecFlag(t *testing.T) {
	s := newTestStack(t, config.Config{})
	s.toolsBin = filepath.Join(CacheDir(), "bin")
	bin, err := s.lookTool("temporal")
	if err != nil {
		t.Fatalf("%v (the Temporal CLI is needed to check its flags)", err)
	}
	out, err := exec.Command(bin, "server", "start-dev", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("temporal server start-dev --help: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--ui-codec-endpoint") {
		t.Fatalf("the Temporal CLI has no --ui-codec-endpoint flag:\n%s", out)
	}
}
