package main_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/carepath/carepath/internal/testenv"
)

// `carepath knowledge load` loads the embedded data set; running it twice
// changes nothing.
func TestKnowledgeLoadIsSafeToRepeat(t *testing.T) {
	testenv.Neo4j(t) // fails with instructions when Neo4j is not running
	bin := buildBinary(t)
	for i := 0; i < 2; i++ {
		out, err := exec.Command(bin, "knowledge", "load").CombinedOutput()
		if err != nil {
			t.Fatalf("knowledge load #%d: %v\n%s", i+1, err, out)
		}
		if !strings.Contains(string(out), "graph loaded: version ") || !strings.Contains(string(out), "drugs") {
			t.Errorf("knowledge load #%d printed %q", i+1, out)
		}
		if i == 1 && !strings.Contains(string(out), "(0 stale items removed)") {
			t.Errorf("second load removed something: %q", out)
		}
	}
	cmd := exec.Command(bin, "knowledge", "drop")
	cmd.Env = os.Environ()
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "knowledge load") {
		t.Errorf("knowledge drop: err %v, output %q; want a usage error", err, out)
	}
}
