package review

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/claudebox/claudebox/internal/safefs"
)

// Files of an instance's review directory, which is claudebox's own: the
// sandbox never sees the instance directory.
const (
	dirName        = "review"
	baselineName   = "baseline.json" // present: a session is in review
	holdsName      = "holds.json"
	knownName      = "known.json"      // what earlier reviews passed, and the user accepted
	incompleteName = "incomplete.json" // what the last review could not look at
	heldDir        = "held"            // the session's versions of held files, by id
	originalsDir   = "originals"       // what reviews passed, by sha256: put back when a session changes it
	// BaselineVersion is the baseline.json format.
	BaselineVersion = 1
	maxState        = 256 << 20 // baseline.json, holds.json
)

// Baseline is what the review compares with: the launch-time surface of
// each project the sessions in review use, and when the first began.
type Baseline struct {
	Version  int                  `json:"version"`
	Since    time.Time            `json:"since"`
	Projects map[string]*Snapshot `json:"projects"`
}

// Store is an instance's review state, in its directory.
type Store struct{ dir string }

// Open is the review state of the instance directory instDir.
func Open(instDir string) *Store { return &Store{dir: filepath.Join(instDir, dirName)} }

// Pending reports whether a session's review is due: its baseline is
// there (a session is live, or its launcher was killed).
func (s *Store) Pending() bool {
	_, err := os.Lstat(filepath.Join(s.dir, baselineName))
	return err == nil
}

func (s *Store) readJSON(name string, v any) error {
	b, _, err := safefs.ReadTrusted(filepath.Join(s.dir, name), maxState)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(s.dir, name), err)
	}
	return nil
}

func (s *Store) writeJSON(name string, v any) error { return s.writeJSONSynced(name, v, true) }

func (s *Store) writeJSONSynced(name string, v any, sync bool) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return s.writeSynced(name, append(b, '\n'), sync)
}

func (s *Store) write(name string, b []byte) error { return s.writeSynced(name, b, true) }

// writeSynced writes the file name of the store; unless sync, without
// waiting for the disk (safefs.Dir.WriteFileNoSync).
func (s *Store) writeSynced(name string, b []byte, sync bool) error {
	if err := os.MkdirAll(filepath.Join(s.dir, filepath.Dir(name)), 0o700); err != nil {
		return err
	}
	d, err := safefs.OpenTrusted(filepath.Join(s.dir, filepath.Dir(name)))
	if err != nil {
		return err
	}
	defer d.Close()
	if !sync {
		return d.WriteFileNoSync(filepath.Base(name), b, 0o600)
	}
	return d.WriteFile(filepath.Base(name), b, 0o600)
}

// Sync puts the baseline on disk. Record writes a new one without
// waiting for the disk: the launcher syncs it while the container is
// made, and starts the session's command only once Sync has returned.
// A baseline a crash left empty was therefore never relied on.
func (s *Store) Sync() error {
	d, err := safefs.OpenTrusted(s.dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync(baselineName)
}

// emptyBaseline: baseline.json is an empty regular file, which only a
// crash before Sync leaves (Record writes it whole, by rename).
func (s *Store) emptyBaseline() bool {
	fi, err := os.Lstat(filepath.Join(s.dir, baselineName))
	return err == nil && fi.Mode().IsRegular() && fi.Size() == 0
}

// Record keeps the launch-time surface of project for the review at the
// session's end, unless a live session of the same instance keeps it
// already. lifted are the paths the user's --rw lifted the protection of;
// pinned those shown read-only inside. A new baseline is on disk once
// Sync returns; one that live sessions rely on is replaced synced.
func (s *Store) Record(project string, lifted, pinned []string) error {
	var b Baseline
	// One a crash left empty was never relied on (run drops it; a live
	// session keeps run from reaching it): written over as if absent.
	if err := s.readJSON(baselineName, &b); err != nil && !errors.Is(err, fs.ErrNotExist) && !s.emptyBaseline() {
		return err
	}
	if b.Projects[project] != nil {
		return nil
	}
	relied := b.Projects != nil
	if b.Projects == nil {
		b = Baseline{Version: BaselineVersion, Since: time.Now().Add(-slack).UTC(), Projects: map[string]*Snapshot{}}
	}
	root, err := safefs.OpenRoot(project, project)
	if err != nil {
		return err
	}
	defer root.Close()
	snap := snapshot(root)
	for _, l := range lifted {
		switch {
		case l == project || strings.HasPrefix(project, l+"/"):
			snap.Lifted = append(snap.Lifted, ".")
		case strings.HasPrefix(l, project+"/"):
			snap.Lifted = append(snap.Lifted, filepath.ToSlash(strings.TrimPrefix(l, project+"/")))
		}
	}
	for _, p := range pinned {
		if !strings.HasPrefix(p, project+"/") {
			continue
		}
		rel := strings.TrimPrefix(p, project+"/")
		if info, err := root.Stat(rel); err == nil {
			if snap.Pinned == nil {
				snap.Pinned = map[string]Inode{}
			}
			snap.Pinned[rel] = Inode{Dev: info.Dev, Ino: info.Ino}
		}
	}
	b.Projects[project] = snap
	if err := s.seed(project, snap); err != nil {
		return err
	}
	return s.writeJSONSynced(baselineName, &b, relied)
}

// seed fills known.json, at a project's first launch, with the host-run
// surface found anywhere in it (nested repositories): what is there
// before any session is the user's, and passes later reviews while it
// stays as it is. It walks the whole project once.
func (s *Store) seed(project string, snap *Snapshot) error {
	known := map[string]string{}
	switch err := s.readJSON(knownName, &known); {
	case err == nil:
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		known = map[string]string{}
	}
	if _, err := walkProject(project, snap, time.Now(), known, s, true); err != nil {
		return err
	}
	return s.writeJSON(knownName, known)
}

// Run reviews every project of the pending baseline, holds what it
// finds, and ends the review (the baseline is removed). Nothing pending:
// an empty Result. A review that could not look at everything (a cap, a
// directory it cannot read) fails closed: it returns ErrIncomplete and
// stays pending, so the next launch refuses, until a review looks at
// everything or the user acknowledges it (RunAcknowledging).
func (s *Store) Run() (Result, error) { return s.run(false) }

// RunAcknowledging is Run, where the user acknowledged that the review
// cannot look at everything (claudebox review --incomplete-ok): what it
// could not look at is said, and the review ends.
func (s *Store) RunAcknowledging() (Result, error) { return s.run(true) }

func (s *Store) run(ack bool) (Result, error) {
	var res Result
	var b Baseline
	if s.emptyBaseline() {
		// Left empty by a crash before Sync: no command started with it.
		return res, os.Remove(filepath.Join(s.dir, baselineName))
	}
	if err := s.readJSON(baselineName, &b); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return res, nil
		}
		return res, err
	}
	if b.Version > BaselineVersion {
		return res, fmt.Errorf("%s was written by a newer claudebox", filepath.Join(s.dir, baselineName))
	}
	known := map[string]string{}
	knownBad := false
	if err := s.readJSON(knownName, &known); err != nil && !errors.Is(err, fs.ErrNotExist) {
		known, knownBad = map[string]string{}, true // a cache: rebuilt
	}
	knownBefore := maps.Clone(known)
	projects := make([]string, 0, len(b.Projects))
	for p := range b.Projects {
		projects = append(projects, p)
	}
	slices.Sort(projects)
	for _, p := range projects {
		r, err := runProject(p, b.Projects[p], b.Since, known, s)
		res.Held = append(res.Held, r.Held...)
		res.Incomplete = append(res.Incomplete, r.Incomplete...)
		res.Failed = append(res.Failed, r.Failed...)
		res.Notes = append(res.Notes, r.Notes...)
		if err != nil {
			_ = s.addHolds(res.Held)
			return res, err
		}
	}
	if err := s.addHolds(res.Held); err != nil {
		return res, err
	}
	// Written (and synced) only when the review learnt something, or
	// rebuilt it: most sessions change nothing a host tool runs.
	if knownBad || !maps.Equal(known, knownBefore) {
		if err := s.writeJSON(knownName, known); err != nil {
			return res, err
		}
	}
	if len(res.Incomplete) > 0 {
		if err := s.writeJSON(incompleteName, res.Incomplete); err != nil {
			return res, err
		}
	} else if err := os.Remove(filepath.Join(s.dir, incompleteName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return res, err
	}
	if len(res.Failed) > 0 {
		return res, fmt.Errorf("%w: %s", ErrCannotHold, strings.Join(res.Failed, "; "))
	}
	if len(res.Incomplete) > 0 && !ack {
		return res, ErrIncomplete
	}
	return res, os.Remove(filepath.Join(s.dir, baselineName))
}

// ErrIncomplete: the review could not look at everything a host tool
// may run; it stays pending.
var ErrIncomplete = errors.New("the review could not look at everything in the project, so something a host tool runs may be planted where it did not look: " +
	"move away or remove what is named, then run claudebox review; or, having looked yourself, claudebox review --incomplete-ok")

// ErrCannotHold: the review found what a host tool would run and could
// not hold it; the review stays pending.
var ErrCannotHold = errors.New("could not hold what a host tool would run")

// keep stores a held file's session version; its id names it.
func (s *Store) keep(data []byte) (string, error) {
	id := randomID()
	return id, s.write(filepath.Join(heldDir, id), data)
}

// keepOriginal keeps the content of a file the review passed, by its
// sha256, once: a later hold of the file puts it back.
func (s *Store) keepOriginal(hash string, data []byte) {
	name := filepath.Join(originalsDir, hash)
	if _, err := os.Lstat(filepath.Join(s.dir, name)); err == nil {
		return
	}
	_ = s.write(name, data) // a cache: without it, a hold only moves aside
}

// original is the content kept under hash (nil when none, or changed).
func (s *Store) original(hash string) []byte {
	b, _, err := safefs.ReadTrusted(filepath.Join(s.dir, originalsDir, hash), maxKeep)
	if err != nil {
		return nil
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != hash {
		return nil
	}
	return b
}

func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Holds lists the pending holds.
func (s *Store) Holds() ([]Hold, error) {
	var hs []Hold
	if err := s.readJSON(holdsName, &hs); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return hs, nil
}

// Incomplete says what the last review could not look at.
func (s *Store) Incomplete() []string {
	var out []string
	_ = s.readJSON(incompleteName, &out)
	return out
}

func (s *Store) addHolds(add []Hold) error {
	if len(add) == 0 {
		return nil
	}
	hs, err := s.Holds()
	if err != nil {
		return err
	}
	for _, h := range add {
		// A newer hold of the same file replaces the older one: what
		// is beside the file is the newer session's.
		hs = slices.DeleteFunc(hs, func(o Hold) bool { return o.Path() == h.Path() })
		hs = append(hs, h)
	}
	return s.writeJSON(holdsName, hs)
}

// ErrNotHeld: accept was asked for a path that nothing holds.
var ErrNotHeld = errors.New("nothing is held there")

// Accept puts the session's version of the held file at path in place,
// and drops the hold. It refuses when the file changed since it was held
// (someone edited it: nothing is overwritten unseen).
func (s *Store) Accept(path string) (Hold, error) {
	hs, err := s.Holds()
	if err != nil {
		return Hold{}, err
	}
	i := slices.IndexFunc(hs, func(h Hold) bool { return h.Path() == path })
	if i < 0 {
		return Hold{}, ErrNotHeld
	}
	h := hs[i]
	root, err := safefs.OpenRoot(h.Project, h.Project)
	if err != nil {
		return h, err
	}
	defer root.Close()
	cur, _, err := save(root, h.Rel)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if h.Now != "" {
			return h, fmt.Errorf("%s was removed since it was held", path)
		}
	case err != nil:
		return h, err
	case cur.Type != 0 || cur.Hash != h.Now:
		return h, fmt.Errorf("%s changed since it was held: move it away, or put the held version in place yourself (%s)", path, path+heldSuffix)
	}
	beside := filepath.Base(h.Rel) + heldSuffix
	besideRel := filepath.ToSlash(filepath.Join(filepath.Dir(h.Rel), beside))
	if h.Copy {
		data, _, err := safefs.ReadTrusted(filepath.Join(s.dir, heldDir, h.ID), maxKeep)
		if err != nil {
			return h, fmt.Errorf("the session's version of %s: %w", path, err)
		}
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != h.Hash {
			return h, fmt.Errorf("the session's version of %s, kept in %s, changed", path, filepath.Join(s.dir, heldDir, h.ID))
		}
		if err := root.WriteFile(h.Rel, data, h.Perm); err != nil {
			return h, err
		}
		if b, _, err := save(root, besideRel); err == nil && b.Type == 0 && b.Hash == h.Hash {
			_ = root.Remove(besideRel)
		}
		_ = os.Remove(filepath.Join(s.dir, heldDir, h.ID))
	} else if err := root.Rename(besideRel, filepath.Base(h.Rel), true); err != nil {
		return h, fmt.Errorf("putting %s back: %w", path, err)
	}
	hs = slices.Delete(hs, i, i+1)
	if err := s.writeJSON(holdsName, hs); err != nil {
		return h, err
	}
	if h.Copy {
		known := map[string]string{}
		_ = s.readJSON(knownName, &known)
		known[path] = h.Hash
		return h, s.writeJSON(knownName, known)
	}
	return h, nil
}

// Report writes the one block a session's end shows when it held
// something, or could not look at everything.
func Report(w io.Writer, res Result) {
	if len(res.Held) > 0 {
		fmt.Fprintln(w, "claudebox: held for your review: the session changed what a tool on your host would run:")
		for _, h := range res.Held {
			fmt.Fprintf(w, "  %s (%s):\n", h.Path(), h.Why)
			for _, r := range h.Runs {
				fmt.Fprintf(w, "      %s\n", r)
			}
		}
		fmt.Fprintln(w, "  Each is back as it was at launch (or away, if it is new); the session's version is beside it, as NAME"+heldSuffix+".")
		fmt.Fprintln(w, "  Look: claudebox review   Let one take effect: claudebox accept PATH")
	}
	for _, n := range res.Notes {
		fmt.Fprintf(w, "claudebox: review: %s\n", n)
	}
	if len(res.Failed) > 0 {
		fmt.Fprintln(w, "claudebox: the review could NOT hold these, which a tool on your host would run; do not run git or claude in this project before you look at them (remove them, or fix what is named):")
		for _, f := range res.Failed {
			fmt.Fprintf(w, "  %s\n", f)
		}
	}
	if len(res.Incomplete) > 0 {
		fmt.Fprintln(w, "claudebox: the review could not look at everything, so something a host tool runs may have been planted there (the review stays pending until it can, or you acknowledge it: claudebox review --incomplete-ok):")
		for _, s := range res.Incomplete {
			fmt.Fprintf(w, "  %s\n", s)
		}
	}
}

// Show writes the holds for `claudebox review`: each file, the tool that
// loads it, and exactly what it would run.
func Show(w io.Writer, hs []Hold) {
	for _, h := range hs {
		state := "away (it is new)"
		if h.Restored {
			state = "back to its launch-time content"
		}
		fmt.Fprintf(w, "%s\n  held %s: %s; it is %s\n", h.Path(), h.Time.Local().Format(time.DateTime), h.Why, state)
		for _, r := range h.Runs {
			fmt.Fprintf(w, "  would run: %s\n", r)
		}
		fmt.Fprintf(w, "  the session's version: %s%s\n  accept: claudebox accept %s\n", h.Path(), heldSuffix, shellQuote(h.Path()))
	}
}

func shellQuote(s string) string {
	if strings.ContainsAny(s, " '\"$`\\!*?[]{}()<>|&;#~") {
		return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	}
	return s
}
