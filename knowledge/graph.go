package knowledge

import (
	"context"
	"fmt"
	"time"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
)

// Notice travels with every answer: the graph supports clinicians and does
// not replace their judgement or a licensed drug database.
const Notice = "Decision support for clinicians, drawn from the cited public sources. It does not replace clinical judgement or a licensed drug-interaction database."

// Graph answers clinical knowledge questions from Neo4j.
type Graph struct {
	driver   neo4j.DriverWithContext
	database string
	timeout  time.Duration
	cache    catalogCache
}

// Option configures a Graph.
type Option func(*Graph)

// WithDatabase names the Neo4j database; the default is the server's home
// database (Community edition has only "neo4j").
func WithDatabase(name string) Option { return func(g *Graph) { g.database = name } }

// WithQueryTimeout bounds each query on the server side.
func WithQueryTimeout(d time.Duration) Option { return func(g *Graph) { g.timeout = d } }

// New returns a Graph over an open driver; the caller owns the driver.
func New(driver neo4j.DriverWithContext, opts ...Option) *Graph {
	g := &Graph{driver: driver, timeout: 10 * time.Second}
	for _, o := range opts {
		o(g)
	}
	return g
}

// read runs one read query as a managed transaction and returns its records.
func (g *Graph) read(ctx context.Context, op, cypher string, params map[string]any) ([]*neo4j.Record, error) {
	res, err := neo4j.ExecuteQuery(ctx, g.driver, cypher, params, neo4j.EagerResultTransformer,
		neo4j.ExecuteQueryWithDatabase(g.database),
		neo4j.ExecuteQueryWithReadersRouting(),
		neo4j.ExecuteQueryWithTransactionConfig(neo4j.WithTxTimeout(g.timeout)))
	if err != nil {
		return nil, fmt.Errorf("knowledge: %s: %w", op, err)
	}
	return res.Records, nil
}

// Ping runs a bare one-row query; the benchmark compares it with a check.
func (g *Graph) Ping(ctx context.Context) error {
	recs, err := g.read(ctx, "ping", "RETURN 1 AS one", nil)
	if err != nil {
		return err
	}
	if len(recs) != 1 {
		return fmt.Errorf("knowledge: ping: %d rows", len(recs))
	}
	return nil
}

// Info describes the loaded graph.
type Info struct {
	Version  string    `json:"version"`
	LoadedAt time.Time `json:"loaded_at"`
	Drugs    int64     `json:"drugs"`
}

// Info returns the version of the data set in the graph, or an error
// wrapping ErrNotLoaded when nothing has been loaded.
func (g *Graph) Info(ctx context.Context) (Info, error) {
	recs, err := g.read(ctx, "info", `MATCH (m:KnowledgeGraph {id: 'carepath'}) RETURN m.version AS v, m.loadedAt AS at, m.drugs AS drugs`, nil)
	if err != nil {
		return Info{}, err
	}
	if len(recs) == 0 {
		return Info{}, fmt.Errorf("knowledge: info: %w", ErrNotLoaded)
	}
	r := recs[0]
	info := Info{}
	info.Version, _ = r.Values[0].(string)
	info.LoadedAt, _ = r.Values[1].(time.Time)
	info.Drugs, _ = r.Values[2].(int64)
	return info, nil
}
