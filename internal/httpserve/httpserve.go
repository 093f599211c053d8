// Package httpserve runs CarePath's HTTP processes (the API and the local
// stand-ins for third parties) and shuts them down the same way.
package httpserve

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Run serves srv until it fails or ctx ends; then it stops taking new
// connections and gives requests in flight up to drain to finish. Every
// CarePath HTTP process (the API and the local stand-ins) shuts down this way.
func Run(ctx context.Context, srv *http.Server, drain time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", srv.Addr, err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drain)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown %s: %w", srv.Addr, err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve %s: %w", srv.Addr, err)
	}
	return nil
}
