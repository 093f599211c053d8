package config

import (
	"os"
	"strings"
	"testing"
)

func TestTelemetryAddressesApartFromTheAPI(t *testing.T) {
	cfg, err := FromLookup(lookupLocal(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MetricsAddr != "127.0.0.1:9464" || cfg.WorkerMetricsAddr != "127.0.0.1:9465" || cfg.OTLPEndpoint != "" {
		t.Errorf("defaults: metrics %q, worker metrics %q, OTLP %q", cfg.MetricsAddr, cfg.WorkerMetricsAddr, cfg.OTLPEndpoint)
	}
	cfg, err = FromLookup(lookupLocal(map[string]string{
		"METRICS_ADDR": "off", "WORKER_METRICS_ADDR": "0.0.0.0:9100", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MetricsAddr != "off" || cfg.WorkerMetricsAddr != "0.0.0.0:9100" || cfg.OTLPEndpoint != "http://collector:4318" {
		t.Errorf("overrides: metrics %q, worker metrics %q, OTLP %q", cfg.MetricsAddr, cfg.WorkerMetricsAddr, cfg.OTLPEndpoint)
	}
}

func TestPrometheusScrapesTheDefaultMetricsAddresses(t *testing.T) {
	raw, err := os.ReadFile("../deploy/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{DefaultMetricsAddr, DefaultWorkerMetricsAddr} {
		if !strings.Contains(string(raw), `"`+addr+`"`) {
			t.Errorf("deploy/prometheus.yml does not scrape %s", addr)
		}
	}
}
