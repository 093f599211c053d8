package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/carepath/carepath/config"
	"github.com/carepath/carepath/knowledge"
	"github.com/carepath/carepath/platform"
)

// runKnowledge implements `carepath knowledge load`: write the data set
// compiled into this binary into Neo4j. Loading twice changes nothing; a
// newer data set replaces the older one.
func runKnowledge(ctx context.Context, cfg config.Config, logger *slog.Logger, args []string) error {
	if len(args) != 1 || args[0] != "load" {
		return errors.New("knowledge: want `knowledge load`")
	}
	return loadKnowledgeGraph(ctx, cfg, logger)
}

// loadKnowledgeGraph loads the embedded knowledge data set into NEO4J_URI.
// `make run` calls it through migrateAndSeed so the API has the graph.
func loadKnowledgeGraph(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	d, err := knowledge.Embedded()
	if err != nil {
		return err
	}
	driver, err := platform.OpenNeo4j(cfg)
	if err != nil {
		return err
	}
	defer func() {
		if err := driver.Close(context.WithoutCancel(ctx)); err != nil {
			logger.Warn("Closing the Neo4j driver failed", "error", err)
		}
	}()
	stats, err := knowledge.New(driver).Load(ctx, d)
	if err != nil {
		return fmt.Errorf("knowledge load into %s: %w", cfg.Neo4jURI, err)
	}
	fmt.Printf("==> %-12s graph loaded: %s\n", "knowledge", stats)
	return nil
}
