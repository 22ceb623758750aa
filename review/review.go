// Package review is the review at the end of every session: what the
// session created or changed in the project that a tool on the host would
// run (git's config and hooks in every git directory, nested ones
// included; Claude Code's project settings and .mcp.json; editor run
// configurations) is held: the file goes back to its launch-time content
// (or, where no launch-time snapshot covers it, the content the first
// launch's walk or the last review that passed it found), or away when it
// is new, the session's version is kept (in the instance
// directory, and beside the file as NAME.claudebox-held, a name no tool
// loads), and the user accepts it with `claudebox accept PATH`.
//
// At launch, Record keeps the launch-time content of the surface at the
// project's top, and the time. At the end, Run walks the whole project
// (bounded) for every place a host tool looks (a .git directory or file,
// a bare-looking git directory, .claude, .mcp.json, .vscode, .idea) and
// judges each file there that differs from its launch-time content, or,
// where there was no snapshot, that the kernel's change time (ctime,
// which no process can set back) says may be new. The judges accept data
// and hold everything else: a git config whose new variables are not
// all data keys, any hook but a sample, any commondir but a linked
// worktree's "../.." or a git directory's own "." (and where any commondir
// leads is looked at as a git directory), a .git file but one line
// "gitdir: PATH" to a directory reached without a link, a link where git
// expects a file or one of its directories, Claude settings whose
// changed keys are not data keys, any change to .mcp.json or an editor's
// run configurations. A directory with HEAD and a commondir, objects or
// refs is a git directory. A review that could not look at everything (a
// cap) stays pending: the next launch refuses until it can, or the user
// acknowledges it.
//
// The project is the sandbox's to write: it is read only through
// internal/safefs (no links, regular files, bounded), and no project tool
// (git!) is ever run.
package review

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/claudebox/claudebox/internal/safefs"
)

// heldSuffix names the session's version of a held file, beside it.
const heldSuffix = ".claudebox-held"

// slack is how far before the launch a change counts as the session's:
// file systems keep coarse timestamps.
const slack = 2 * time.Second

// walkLimits cap the walk of the project at the end of a session: about
// 2 s of walking on a slow disk. Past them the review says it is
// incomplete (and `claudebox ls` shows it) rather than passing silently.
var walkLimits = safefs.WalkLimits{Dirs: 100_000, Entries: 100_000, Depth: 128}

// Saved is one file of the surface as it was at launch.
type Saved struct {
	Type fs.FileMode `json:"type"` // 0: a regular file
	Perm fs.FileMode `json:"perm"`
	Hash string      `json:"hash,omitempty"` // sha256 of a regular file
	Data []byte      `json:"data,omitempty"` // its content, up to maxKeep
}

// Snapshot is the surface at the top of one project at launch.
type Snapshot struct {
	// Files are the surface's files then, by path in the project.
	Files map[string]Saved `json:"files"`
	// Lifted are the paths in the project a read-write mount the user
	// asked for (--rw) lifted the protection of: their changes pass.
	Lifted []string `json:"lifted,omitempty"`
	// Incomplete says why the snapshot is not whole ("" when it is).
	Incomplete string `json:"incomplete,omitempty"`
	// Pinned are the paths in the project shown read-only inside
	// (protected), by the inode they were at launch: while the same inode
	// is there, the sandbox could not change what is in it, and a change
	// found there is the host's own (an editor, git run by the user).
	Pinned map[string]Inode `json:"pinned,omitempty"`
}

// Inode names a file: the same at two times, the same file.
type Inode struct {
	Dev uint64 `json:"dev"`
	Ino uint64 `json:"ino"`
}

// snapshot reads the surface at the top of the project open at root.
func snapshot(root *safefs.Dir) *Snapshot {
	s := &Snapshot{Files: map[string]Saved{}}
	for _, loc := range rootLocations(root) {
		its, err := items(root, loc)
		if err != nil {
			s.Incomplete = "more entries than claudebox reads in " + loc.rel
		}
		for _, it := range its {
			if sv, _, err := save(root, it.rel); err == nil {
				s.Files[it.rel] = sv
			}
		}
	}
	return s
}

// save reads rel as it is now: what Saved keeps, and the content of a
// regular file of at most maxKeep bytes (nil for anything else).
func save(root *safefs.Dir, rel string) (Saved, []byte, error) {
	info, err := root.Stat(rel)
	if err != nil {
		return Saved{}, nil, err
	}
	sv := Saved{Type: info.Type, Perm: info.Perm}
	if info.Type != 0 {
		// Not read: which inode it is, and when it last changed, stand
		// for its content (a link re-pointed is a new one).
		sv.Hash = fmt.Sprintf("%s inode %d changed %d", typeName(info.Type), info.Ino, info.Ctime.UnixNano())
		if info.Type == fs.ModeSymlink {
			if target, err := root.Readlink(rel); err == nil {
				sv.Hash += " -> " + target
			}
		}
		return sv, nil, nil
	}
	b, _, err := root.ReadFile(rel, maxKeep)
	if err != nil {
		var se *safefs.Error
		if errors.As(err, &se) {
			// Its change time stands for its content: any change to
			// it is one to review.
			sv.Hash = "unreadable: " + se.Problem + fmt.Sprintf(" (changed %d)", info.Ctime.UnixNano())
			return sv, nil, nil
		}
		return Saved{}, nil, err
	}
	sum := sha256.Sum256(b)
	sv.Hash, sv.Data = hex.EncodeToString(sum[:]), b
	return sv, b, nil
}

// Hold is one held change.
type Hold struct {
	ID      string `json:"id"`
	Project string `json:"project"`
	// Rel is the file's path in the project.
	Rel string `json:"path"`
	// Why says which host tool runs it; Runs what it would run.
	Why  string   `json:"why"`
	Runs []string `json:"runs"`
	// Copy: the session's version is kept in the instance directory
	// (a regular file of at most 1 MiB); else only beside the file.
	Copy bool        `json:"copy"`
	Hash string      `json:"hash,omitempty"` // sha256 of the kept copy
	Perm fs.FileMode `json:"perm"`
	// Restored: the launch-time content was put back; else the file was
	// new (or its launch-time content too big to keep) and is away.
	Restored bool `json:"restored"`
	// Now is the sha256 of what is at the path after the hold ("" for
	// nothing): accept replaces only that.
	Now  string    `json:"now,omitempty"`
	Time time.Time `json:"time"`
}

// Path is the held file's absolute path.
func (h Hold) Path() string { return filepath.Join(h.Project, filepath.FromSlash(h.Rel)) }

// Result is what one review found.
type Result struct {
	Held []Hold
	// Incomplete says what the review could not look at ("" when
	// nothing): more directories than its cap, a directory unreadable.
	Incomplete []string
	// Failed says what it found but could not hold (the review stays
	// pending: the next launch tries again, and refuses to start until
	// it can).
	Failed []string
	// Notes say what the review repaired to look (a directory the
	// sandbox made unreadable).
	Notes []string
}

// runProject reviews one project against its launch-time snapshot; since
// is when the session began. keep stores a held file's session version
// and returns its id.
func runProject(project string, snap *Snapshot, since time.Time, known map[string]string, st *Store) (Result, error) {
	return walkProject(project, snap, since, known, st, false)
}

// walkProject is runProject; with seed, every file found only fills
// known (a project's first launch: what is there is the user's).
func walkProject(project string, snap *Snapshot, since time.Time, known map[string]string, st *Store, seed bool) (Result, error) {
	var res Result
	root, err := safefs.OpenRoot(project, project)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return res, nil // the project is gone, and with it what would run
		}
		return res, err
	}
	defer root.Close()
	if snap.Incomplete != "" {
		res.Incomplete = append(res.Incomplete, "at launch: "+snap.Incomplete)
	}
	locs := rootLocations(root)
	covered := map[string]bool{}
	for _, l := range locs {
		covered[l.rel] = true
	}
	lim := walkLimits
	if !seed { // at the first launch, what is unreadable is the user's choice
		lim.Restored = func(note string) { res.Notes = append(res.Notes, note) }
	}
	werr := root.Walk(lim, since, func(w *safefs.WalkDir, err error) func(int) bool {
		if err != nil {
			res.Incomplete = append(res.Incomplete, project+"/"+w.Rel+" could not be read: "+err.Error())
			return nil
		}
		if w.Rel != "." && slices.Contains(w.Names, "HEAD") &&
			(slices.Contains(w.Names, "commondir") || slices.Contains(w.Names, "objects") || slices.Contains(w.Names, "refs")) {
			// git may take a directory like this for a repository when
			// run in it (a bare one, a .git moved elsewhere, one whose
			// commondir names where its objects and config are): judged
			// as one, and walked on (what is under it is in the work
			// tree as well).
			locs = append(locs, location{rel: w.Rel, kind: locGitDir, fresh: w.Fresh})
		}
		for i, n := range w.Names {
			if _, ok := surfaceNames[n]; ok {
				rel := path.Join(w.Rel, n)
				if !covered[rel] {
					locs = append(locs, location{rel: rel, kind: locationKind(n, w.Types[i]), fresh: w.Fresh})
				}
			}
		}
		return func(i int) bool { return w.Names[i] != ".git" }
	})
	if werr != nil {
		res.Incomplete = append(res.Incomplete, werr.Error())
	}
	// Every place, with what links and .git files lead to (a place found
	// twice is fresh if either finding says so), then each looked at once.
	r := reviewer{root: root, project: project, snap: snap, since: since, known: known, st: st, seed: seed}
	byRel := map[string]int{}
	var all []location
	for i := 0; i < len(locs); i++ {
		if i == maxLocations {
			res.Incomplete = append(res.Incomplete, fmt.Sprintf("more than %d places where a host tool looks (git directories, .claude, ...) in %s", maxLocations, project))
			break
		}
		l := locs[i]
		if j, ok := byRel[l.rel]; ok {
			all[j].fresh = all[j].fresh || l.fresh
			all[j].redirected = all[j].redirected || l.redirected
			continue
		}
		byRel[l.rel] = len(all)
		all = append(all, l)
		locs = append(locs, r.follow(l)...)
	}
	for _, l := range all {
		r.covered = covered[l.rel]
		if err := r.location(l, &res); err != nil {
			return res, err
		}
	}
	return res, nil
}

type reviewer struct {
	root    *safefs.Dir
	project string
	snap    *Snapshot
	since   time.Time
	known   map[string]string // path -> sha256 of what earlier reviews passed and the user accepted
	st      *Store            // keeps held files' session versions, and what passed
	covered bool              // the location was in the launch-time snapshot
	seed    bool              // only fill known
}

// location reviews the files of one location; it returns the git
// directories that gitfiles there name inside the project.
func (r *reviewer) location(loc location, res *Result) error {
	fresh := loc.fresh
	if info, err := r.root.Stat(loc.rel); err == nil && !info.Ctime.Before(r.since) {
		fresh = true
	}
	its, err := items(r.root, loc)
	if err != nil {
		res.Incomplete = append(res.Incomplete, "more entries than claudebox reads in "+r.project+"/"+loc.rel)
	}
	for _, it := range its {
		if r.lifted(it.rel) || r.pinned(it.rel) {
			continue
		}
		old, had := r.snap.Files[it.rel]
		sv, now, err := save(r.root, it.rel)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return err
		}
		abs := filepath.Join(r.project, it.rel)
		switch {
		case r.seed:
			r.pass(abs, sv, now)
			continue
		case had && sv.Type == old.Type && sv.Hash == old.Hash:
			continue // as it was at launch
		case !had && !loc.redirected && sv.Type == 0 && sv.Hash != "" && r.known[abs] == sv.Hash:
			r.pass(abs, sv, now) // keeps its content, if not kept yet
			continue             // as an earlier review passed it, or the user accepted it
		case !had && !r.covered && !fresh && !r.changedSince(loc.rel, it.rel):
			r.pass(abs, sv, now)
			continue // there before the session, untouched by it
		}
		var runs []string
		switch {
		case sv.Type != 0:
			runs = []string{"a " + typeName(sv.Type) + " where a file was expected: the tool follows it"}
		case sv.Hash != "" && now == nil:
			runs = []string{"a file claudebox cannot read (" + strings.TrimPrefix(sv.Hash, "unreadable: ") + ")"}
		case it.kind == kindGitfile:
			target, inside := r.gitfileTarget(it.rel, now)
			if inside {
				r.pass(abs, sv, now)
				continue // what it names is looked at (follow)
			}
			runs = []string{"gitdir: " + target + ", not a directory in the project reached without a link: git runs that repository's config and hooks"}
		default:
			var prev []byte
			if had {
				prev = old.Data
			}
			runs = judge(it.kind, it.rel, prev, now)
		}
		if len(runs) == 0 {
			r.pass(abs, sv, now)
			continue
		}
		h, err := r.hold(it, runs, had, old, sv, now)
		if err != nil {
			res.Failed = append(res.Failed, fmt.Sprintf("%s (%s: %s): %v", abs, it.kind.why(), strings.Join(runs, "; "), err))
			continue
		}
		res.Held = append(res.Held, h)
	}
	return nil
}

// follow finds, in loc's items, the links and .git files that lead to a
// place inside the project: that place is looked at as what the name
// says (a .git file's target is a git directory, a .claude link's a
// .claude directory), fresh when the link or file is new or changed.
func (r *reviewer) follow(loc location) []location {
	its, _ := items(r.root, loc)
	var out []location
	for _, it := range its {
		sv, now, err := save(r.root, it.rel)
		if err != nil {
			continue
		}
		old, had := r.snap.Files[it.rel]
		changed := !(had && old.Type == sv.Type && old.Hash == sv.Hash) &&
			!(sv.Type == 0 && r.known[filepath.Join(r.project, it.rel)] == sv.Hash)
		switch {
		case sv.Type == fs.ModeSymlink:
			if target, inside := r.linkTarget(it.rel); inside {
				out = append(out, location{rel: target, kind: locationKind(path.Base(it.rel), r.kindAt(target)), fresh: changed, redirected: changed})
			}
		case it.kind == kindGitfile && now != nil:
			if target, inside := r.gitfileTarget(it.rel, now); inside {
				out = append(out, location{rel: target, kind: locGitDir, fresh: changed, redirected: changed})
			}
		case it.kind == kindCommondir && now != nil:
			// git reads config and hooks where a commondir leads (a
			// linked worktree's ../.. included): that is a git
			// directory, looked at as one.
			if target, inside := r.inProject(it.rel, strings.TrimRight(string(now), "\r\n")); inside {
				out = append(out, location{rel: target, kind: locGitDir, fresh: changed, redirected: changed})
			}
		}
	}
	return out
}

// pass remembers a file of the surface the review let pass (now: its
// content), so that a later review, which may find it in a directory
// changed since, knows it, and can put it back when a session changes it
// in a way that is held (a nested .claude/settings.local.json, a nested
// repository's config: no launch-time snapshot covers them).
func (r *reviewer) pass(abs string, sv Saved, now []byte) {
	if sv.Type == 0 && sv.Hash != "" && !strings.HasPrefix(sv.Hash, "unreadable") {
		r.known[abs] = sv.Hash
		if now != nil {
			r.st.keepOriginal(sv.Hash, now)
		}
	}
}

// changedSince: a directory between the location and the file (hooks/,
// modules/X/, the file itself) changed since the session began.
func (r *reviewer) changedSince(loc, rel string) bool {
	for p := rel; p != loc && p != "." && p != "/"; p = path.Dir(p) {
		if info, err := r.root.Stat(p); err == nil && !info.Ctime.Before(r.since) {
			return true
		}
	}
	return false
}

// lifted: rel is under a path the user's --rw lifted the protection of.
func (r *reviewer) lifted(rel string) bool {
	for _, l := range r.snap.Lifted {
		if l == "." || rel == l || strings.HasPrefix(rel, l+"/") {
			return true
		}
	}
	return false
}

// pinned: rel is in a path that was read-only inside for the whole
// session: the same inode is there as at launch.
func (r *reviewer) pinned(rel string) bool {
	for p, ino := range r.snap.Pinned {
		if rel != p && !strings.HasPrefix(rel, p+"/") {
			continue
		}
		if info, err := r.root.Stat(p); err == nil && info.Dev == ino.Dev && info.Ino == ino.Ino {
			return true
		}
	}
	return false
}

// linkTarget says where the link rel leads, as a path in the project
// when it is inside.
func (r *reviewer) linkTarget(rel string) (string, bool) {
	target, err := r.root.Readlink(rel)
	if err != nil {
		return "", false
	}
	return r.inProject(rel, target)
}

// inProject resolves target, named in the entry rel, to a directory in
// the project, if it is one reached without following any link: each
// name on the way is looked at (a real directory, not a link), so a ".."
// after it is its real parent. Anything else (outside the project, a
// link on the way, nothing there) is not a place the review can look at
// as what it names, and the name that leads there is held.
func (r *reviewer) inProject(rel, target string) (string, bool) {
	var names []string
	rest := target
	if filepath.IsAbs(target) {
		in, ok := strings.CutPrefix(target, r.project+"/")
		if !ok {
			return target, false
		}
		rest = in
	} else if d := path.Dir(rel); d != "." {
		rest = d + "/" + target
	}
	for _, n := range strings.Split(rest, "/") {
		switch n {
		case "", ".":
			continue
		case "..":
			if len(names) == 0 {
				return target, false
			}
			names = names[:len(names)-1]
			continue
		}
		names = append(names, n)
		if info, err := r.root.Stat(strings.Join(names, "/")); err != nil || info.Type != fs.ModeDir {
			return target, false
		}
	}
	if len(names) == 0 {
		return target, false // the project itself is not a git directory
	}
	return strings.Join(names, "/"), true
}

// kindAt is the type of what is at rel (fs.ModeIrregular when nothing).
func (r *reviewer) kindAt(rel string) fs.FileMode {
	info, err := r.root.Stat(rel)
	if err != nil {
		return fs.ModeIrregular
	}
	return info.Type
}

// gitfileTarget reads a .git file and says where it points, as a path in
// the project when it is a directory there reached without a link (see
// inProject). Only the one form passes: exactly "gitdir: PATH" and at
// most one newline; git reads the whole content but trailing newlines as
// the path, so a second line is part of it.
func (r *reviewer) gitfileTarget(rel string, b []byte) (string, bool) {
	target, ok := strings.CutPrefix(strings.TrimSuffix(string(b), "\n"), "gitdir: ")
	if !ok || target == "" || len(b) > maxGitfile || strings.ContainsAny(target, "\r\n\x00") {
		return "(not one line \"gitdir: PATH\")", false
	}
	return r.inProject(rel, target)
}

func typeName(t fs.FileMode) string {
	switch t {
	case fs.ModeSymlink:
		return "symbolic link"
	case fs.ModeDir:
		return "directory"
	case fs.ModeNamedPipe:
		return "FIFO"
	case fs.ModeSocket:
		return "socket"
	}
	return "special file"
}

// hold keeps the session's version of it (beside it, and a copy in the
// instance directory), and puts back its launch-time content, or leaves
// it away when it is new.
func (r *reviewer) hold(it item, runs []string, had bool, old, sv Saved, now []byte) (Hold, error) {
	h := Hold{Project: r.project, Rel: it.rel, Why: it.kind.why(), Runs: runs, Perm: sv.Perm, Time: time.Now().UTC()}
	if sv.Type == 0 && now != nil {
		id, err := r.st.keep(now)
		if err != nil {
			return h, fmt.Errorf("keeping the session's %s: %w", it.rel, err)
		}
		h.ID, h.Copy, h.Hash = id, true, sv.Hash
	} else {
		h.ID = randomID()
	}
	err := r.root.Rename(it.rel, path.Base(it.rel)+heldSuffix, true)
	if errors.Is(err, fs.ErrPermission) {
		// The sandbox took the directory's write permission away: the
		// user's own directory gets it back.
		if _, rerr := r.root.Repair(path.Dir(it.rel), true, 0o755); rerr == nil {
			err = r.root.Rename(it.rel, path.Base(it.rel)+heldSuffix, true)
		}
	}
	if err != nil {
		return h, fmt.Errorf("holding it: %w", err)
	}
	switch {
	case had && old.Type == 0 && old.Data != nil:
		if err := r.root.WriteFile(it.rel, old.Data, old.Perm); err != nil {
			return h, fmt.Errorf("putting back the launch-time %s: %w", h.Path(), err)
		}
		h.Restored, h.Now = true, old.Hash
	case r.known[h.Path()] != "":
		// Not in the launch-time snapshot, but there before: the
		// version the first launch found, or a review last passed, is
		// put back (the session's is beside it, and accept restores it).
		prev := r.known[h.Path()]
		data := r.st.original(prev)
		if data == nil {
			h.Runs = append(h.Runs, "(its content before the session was not kept: only the session's version is)")
			break
		}
		if err := r.root.WriteFile(it.rel, data, sv.Perm&0o777); err != nil {
			return h, fmt.Errorf("putting back the earlier %s: %w", h.Path(), err)
		}
		h.Restored, h.Now = true, prev
	}
	return h, nil
}
