package api

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carepath/carepath/platform"
)

type slowHealth struct{ rounds atomic.Int32 }

func (h *slowHealth) Check(ctx context.Context, _ time.Duration) ([]platform.ComponentHealth, bool) {
	h.rounds.Add(1)
	select {
	case <-time.After(100 * time.Millisecond):
		return nil, true
	case <-ctx.Done():
		return nil, false // a round cut short by its first caller
	}
}

// A round is probed again once the cache is older than its TTL, and a
// caller that gives up does not cut short the round others wait for.
func TestHealthCacheExpiresAndOutlivesItsCaller(t *testing.T) {
	checker := &slowHealth{}
	cache := cacheHealth(checker, 300*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	if _, healthy := cache.Check(ctx, time.Second); healthy {
		t.Error("a caller that gave up got an answer")
	}
	if _, healthy := cache.Check(context.Background(), time.Second); !healthy || checker.rounds.Load() != 1 {
		t.Fatalf("healthy=%v after %d rounds; want the first round, uncut", healthy, checker.rounds.Load())
	}
	time.Sleep(350 * time.Millisecond)
	if _, healthy := cache.Check(context.Background(), time.Second); !healthy || checker.rounds.Load() != 2 {
		t.Errorf("healthy=%v after %d rounds; want a second round once the TTL passed", healthy, checker.rounds.Load())
	}
}
