package pathways

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

// The editor schema and the loader must agree: every shipped pathway passes
// the schema, and the schema rejects what the loader rejects structurally.
func TestSchemaAcceptsShippedPathwaysAndRejectsStructuralErrors(t *testing.T) {
	raw, err := os.ReadFile("schema.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("schema.json", doc); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile("schema.json")
	if err != nil {
		t.Fatal(err)
	}
	files, _ := fs.Glob(definitions, "definitions/*.yaml")
	if len(files) < 3 {
		t.Fatalf("want at least 3 shipped pathways, found %v", files)
	}
	for _, f := range files {
		data, _ := fs.ReadFile(definitions, f)
		if err := schema.Validate(yamlToJSON(t, data)); err != nil {
			t.Errorf("%s fails the schema: %v", f, err)
		}
	}
	for name, bad := range map[string]string{
		"unknown step type": strings.Replace(base, "type: notify", "type: teleport", 1),
		"unknown field":     strings.Replace(base, "    role: doctor\n", "    role: doctor\n    colour: blue\n", 1),
		"bad duration":      strings.Replace(base, "time_limit: 4h", "time_limit: soon", 1),
	} {
		if err := schema.Validate(yamlToJSON(t, []byte(bad))); err == nil {
			t.Errorf("schema accepted a pathway with %s", name)
		}
	}
}

func yamlToJSON(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		t.Fatal(err)
	}
	return out
}
