package api

import (
	_ "embed"
	"encoding/json"
	"html/template"
	"net/http"
	"sort"

	"github.com/gin-gonic/gin"
)

//go:embed openapi.json
var openAPIDocument []byte

func (s *Server) openAPI(c *gin.Context) {
	c.Data(http.StatusOK, "application/json", openAPIDocument)
}

type docOperation struct {
	Method, Path, Summary, ID string
}

// docs renders the OpenAPI document as a plain HTML reference. It needs no
// scripts from elsewhere, so it works offline and behind strict CSPs.
func (s *Server) docs(c *gin.Context) {
	ops, info, err := operations(openAPIDocument)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.Header("Content-Type", "text/html; charset=utf-8")
	c.Status(http.StatusOK)
	if err := docsPage.Execute(c.Writer, map[string]any{"Info": info, "Ops": ops}); err != nil {
		_ = c.Error(err)
	}
}

func operations(doc []byte) ([]docOperation, map[string]string, error) {
	var parsed struct {
		Info  map[string]string                    `json:"info"`
		Paths map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(doc, &parsed); err != nil {
		return nil, nil, err
	}
	var ops []docOperation
	for path, methods := range parsed.Paths {
		for method, op := range methods {
			summary, _ := op["summary"].(string)
			id, _ := op["operationId"].(string)
			ops = append(ops, docOperation{Method: method, Path: path, Summary: summary, ID: id})
		}
	}
	sort.Slice(ops, func(i, j int) bool {
		if ops[i].Path != ops[j].Path {
			return ops[i].Path < ops[j].Path
		}
		return ops[i].Method < ops[j].Method
	})
	return ops, parsed.Info, nil
}

var docsPage = template.Must(template.New("docs").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Info.title}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}
code{background:#f3f3f3;padding:.1rem .3rem}td{padding:.3rem .6rem;border-bottom:1px solid #ddd}</style></head>
<body><h1>{{.Info.title}} <small>{{.Info.version}}</small></h1>
<p>{{.Info.description}}</p>
<p>Machine-readable contract: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p>
<table>{{range .Ops}}<tr><td><code>{{.Method}}</code></td><td><code>{{.Path}}</code></td><td>{{.Summary}}</td></tr>{{end}}</table>
</body></html>`))
