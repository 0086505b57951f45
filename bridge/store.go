package bridge

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"
)

// storeFile is the name of the bridge's state file in the state directory.
const storeFile = "bridge-state.json"

// lockCursor is what survives a restart for one lock: where the records
// catch-up stands, which records were already published, and the last
// unlock.
type lockCursor struct {
	// Cursor is the newest lockDate seen (unix ms).
	Cursor int64 `json:"cursor_ms"`
	// Seen holds fingerprints of published records with their lockDate, so
	// that a record arriving again (by poll after a push, or after a
	// restart) is published once.
	Seen       map[string]int64 `json:"seen"`
	LastUnlock *unlockInfo      `json:"last_unlock,omitempty"`
	Known      bool             `json:"known"`
	// Primed is set once a records poll has run for the lock: the first
	// poll marks the history as seen instead of replaying it as events.
	Primed bool `json:"primed"`
}

// store persists lockCursors in state_dir with atomic writes. The bridge's
// mutex guards it.
type store struct {
	path  string
	locks map[int64]*lockCursor
}

type storeJSON struct {
	Version int                    `json:"version"`
	Locks   map[string]*lockCursor `json:"locks"`
}

// openStore reads the state file in dir; a missing file is an empty store.
// An empty dir keeps the state in memory only.
func openStore(dir string) (*store, error) {
	s := &store{locks: map[int64]*lockCursor{}}
	if dir == "" {
		return s, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	s.path = filepath.Join(dir, storeFile)
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	var doc storeJSON
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("decode state %s: %w", storeFile, err)
	}
	for k, v := range doc.Locks {
		id, err := strconv.ParseInt(k, 10, 64)
		if err != nil || v == nil {
			continue
		}
		if v.Seen == nil {
			v.Seen = map[string]int64{}
		}
		s.locks[id] = v
	}
	return s, nil
}

// cursor returns the lock's cursor, creating it.
func (s *store) cursor(id int64) *lockCursor {
	c, ok := s.locks[id]
	if !ok {
		c = &lockCursor{Seen: map[string]int64{}}
		s.locks[id] = c
	}
	return c
}

// knownLocks returns the IDs of locks that were on the account.
func (s *store) knownLocks() []int64 {
	var ids []int64
	for id, c := range s.locks {
		if c.Known {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// prune drops fingerprints older than keep before each lock's cursor.
func (s *store) prune(keep time.Duration) {
	for _, c := range s.locks {
		limit := c.Cursor - keep.Milliseconds()
		for k, at := range c.Seen {
			if at < limit {
				delete(c.Seen, k)
			}
		}
	}
}

// storeSnapshot is a copy of the store that can be encoded without the
// bridge's mutex.
type storeSnapshot struct {
	path string
	doc  storeJSON
}

// snapshot copies the store (the caller holds the bridge's mutex). The copy
// is cheap next to JSON encoding, which then runs outside the mutex.
func (s *store) snapshot() storeSnapshot {
	if s.path == "" {
		return storeSnapshot{}
	}
	doc := storeJSON{Version: 1, Locks: make(map[string]*lockCursor, len(s.locks))}
	for id, c := range s.locks {
		cp := *c
		cp.Seen = maps.Clone(c.Seen)
		if c.LastUnlock != nil {
			lu := *c.LastUnlock
			cp.LastUnlock = &lu
		}
		doc.Locks[strconv.FormatInt(id, 10)] = &cp
	}
	return storeSnapshot{path: s.path, doc: doc}
}

// encode returns the state file's content, or nil when the store is kept
// in memory only.
func (s storeSnapshot) encode() ([]byte, error) {
	if s.path == "" {
		return nil, nil
	}
	b, err := json.Marshal(s.doc)
	if err != nil {
		return nil, fmt.Errorf("encode state: %w", err)
	}
	return b, nil
}

// writeFileAtomic replaces path with data so that a crash leaves either the
// old or the new content.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}
