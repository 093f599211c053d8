package vault

import (
	"context"
	"fmt"

	"github.com/carepath/carepath/store"
)

// RotateDocuments re-wraps the data key of every document not yet under
// the ring's active master key. Only the wrapped keys change: the sealed
// documents in the object store are not read or written. It returns how
// many keys it re-wrapped; running it again re-wraps none.
func RotateDocuments(ctx context.Context, s *store.Store, ring *Keyring) (int, error) {
	stale, err := s.DocumentKeysNotUnder(ctx, ring.Active())
	if err != nil {
		return 0, err
	}
	done := 0
	for _, k := range stale {
		sealed, err := ring.Rewrap(k.RecordID, Sealed{WrappedKey: k.WrappedKey, MasterKeyID: k.MasterKeyID})
		if err != nil {
			return done, fmt.Errorf("vault: rotate: %w", err)
		}
		changed, err := s.ReplaceDocumentKey(ctx, k, sealed.WrappedKey, sealed.MasterKeyID)
		if err != nil {
			return done, err
		}
		if changed {
			done++
		}
	}
	return done, nil
}
