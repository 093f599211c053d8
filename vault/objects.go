package vault

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
)

// ObjectStore is the part of an S3-compatible object store the records
// need: whole objects put, got and deleted by key. FileStore implements it
// on the local filesystem; an S3 or MinIO client (PutObject, GetObject,
// RemoveObject on one bucket) implements it the same way.
type ObjectStore interface {
	Put(ctx context.Context, key string, data []byte) error
	Get(ctx context.Context, key string) ([]byte, error)
	Delete(ctx context.Context, key string) error
}

// ErrNoObject is returned by Get for a key with no object.
var ErrNoObject = errors.New("vault: no such object")

// validObjectKey keeps keys to S3-safe characters and out of parent folders.
var validObjectKey = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]{0,255}$`)

// FileStore keeps objects as files under a folder.
type FileStore struct{ dir string }

// NewFileStore uses dir (created if missing) for objects.
func NewFileStore(dir string) (*FileStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("vault: object folder: %w", err)
	}
	return &FileStore{dir: dir}, nil
}

func (f *FileStore) path(key string) (string, error) {
	if !validObjectKey.MatchString(key) || filepath.Clean(key) != key {
		return "", fmt.Errorf("vault: invalid object key %q", key)
	}
	return filepath.Join(f.dir, filepath.FromSlash(key)), nil
}

// Put writes the object through a temporary file and a rename, so a reader
// never sees half an object.
func (f *FileStore) Put(_ context.Context, key string, data []byte) error {
	p, err := f.path(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("vault: put %s: %w", key, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".put-*")
	if err != nil {
		return fmt.Errorf("vault: put %s: %w", key, err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("vault: put %s: %w", key, err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("vault: put %s: %w", key, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("vault: put %s: %w", key, err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("vault: put %s: %w", key, err)
	}
	return nil
}

// Get reads the object, or ErrNoObject.
func (f *FileStore) Get(_ context.Context, key string) ([]byte, error) {
	p, err := f.path(key)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNoObject, key)
	}
	if err != nil {
		return nil, fmt.Errorf("vault: get %s: %w", key, err)
	}
	return b, nil
}

// Delete removes the object; deleting a missing object is not an error
// (as in S3).
func (f *FileStore) Delete(_ context.Context, key string) error {
	p, err := f.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("vault: delete %s: %w", key, err)
	}
	return nil
}
