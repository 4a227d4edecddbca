package executor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// errOutside is wrapped by every refusal of a path outside the workspace.
var errOutside = errors.New("outside the workspace")

// resolve maps a tool's path argument to a path inside the workspace. It
// returns the cleaned absolute path as the agent named it (for messages) and
// the real path with symlinks resolved (for the operation). A relative path
// is taken from base. Paths that leave the workspace, lexically or through
// a symlink, are refused.
func (s *Server) resolve(p, base string) (shown, real string, err error) {
	return s.resolveDepth(p, base, 0)
}

func (s *Server) resolveDepth(p, base string, depth int) (shown, real string, err error) {
	if depth > 40 {
		return "", "", &OpError{Kind: ErrKindInvalid, Err: fmt.Errorf("path %q: too many levels of symbolic links", p)}
	}
	if p == "" {
		return "", "", &OpError{Kind: ErrKindInvalid, Err: errors.New("empty path")}
	}
	if strings.ContainsRune(p, 0) {
		return "", "", &OpError{Kind: ErrKindInvalid, Err: fmt.Errorf("path %q contains a NUL byte", p)}
	}
	if p == "~" || strings.HasPrefix(p, "~/") {
		return "", "", s.outside(p)
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(base, p)
	}
	p = s.remapIn(filepath.Clean(p))
	shown = filepath.Clean(p)
	if !within(s.cfg.Root, shown) && !within(s.root, shown) {
		return "", "", s.outside(p)
	}
	// Resolve symlinks on the longest existing prefix; the rest does not
	// exist yet (a file about to be written).
	existing, rest := shown, ""
	for {
		if _, err := os.Lstat(existing); err == nil {
			break
		}
		parent := filepath.Dir(existing)
		if parent == existing {
			break
		}
		rest = filepath.Join(filepath.Base(existing), rest)
		existing = parent
	}
	r, err := filepath.EvalSymlinks(existing)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			// A dangling symlink: follow it by hand one level to report
			// where it points.
			if t, lerr := os.Readlink(existing); lerr == nil {
				if !filepath.IsAbs(t) {
					t = filepath.Join(filepath.Dir(existing), t)
				}
				t = filepath.Clean(t)
				if !within(s.root, t) && !within(s.cfg.Root, t) {
					return "", "", s.outside(p)
				}
				_, real, err := s.resolveDepth(filepath.Join(t, rest), base, depth+1)
				return shown, real, err
			}
		}
		return "", "", &OpError{Kind: ErrKindIO, Err: err}
	}
	real = filepath.Join(r, rest)
	if !within(s.root, real) {
		return "", "", s.outside(p)
	}
	return shown, real, nil
}

func (s *Server) outside(p string) error {
	return &OpError{Kind: ErrKindOutside, Err: fmt.Errorf("path %q is %w %s: the sandbox's file tools only reach files inside it", p, errOutside, s.cfg.Root)}
}

// within reports whether p is root or below it. Both must be clean.
func within(root, p string) bool {
	if p == root {
		return true
	}
	if root == "/" {
		return strings.HasPrefix(p, "/")
	}
	return strings.HasPrefix(p, root+string(filepath.Separator))
}

// rel returns p relative to the workspace root, slash-separated.
func (s *Server) rel(real string) string {
	r, err := filepath.Rel(s.root, real)
	if err != nil {
		return real
	}
	return filepath.ToSlash(r)
}

// ReadFile returns a workspace file's contents.
func (s *Server) ReadFile(p string) ([]byte, error) {
	_, real, err := s.resolve(p, s.cfg.Root)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(real)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return nil, &OpError{Kind: ErrKindInvalid, Err: fmt.Errorf("read %q: is a directory", p)}
	}
	if fi.Size() > MaxFrame/2 {
		return nil, &OpError{Kind: ErrKindTooLarge, Err: fmt.Errorf("read %q: %d bytes is too large for ReadFile; copy it out as tar", p, fi.Size())}
	}
	return os.ReadFile(real)
}

// WriteFile writes a workspace file, creating parent directories.
func (s *Server) WriteFile(p string, data []byte, mode os.FileMode) error {
	_, real, err := s.resolve(p, s.cfg.Root)
	if err != nil {
		return err
	}
	if mode == 0 {
		mode = 0o644
	}
	if err := os.MkdirAll(filepath.Dir(real), 0o755); err != nil {
		return err
	}
	if err := s.writeFile(real, data, mode.Perm()); err != nil {
		return err
	}
	return os.Chmod(real, mode.Perm())
}

// remapIn takes a recorded path (under Remap.From) to where it lives.
func (s *Server) remapIn(p string) string {
	r := s.cfg.Remap
	if r == nil || r.From == "/" {
		return p
	}
	if p == r.From {
		return r.To
	}
	if rest, ok := strings.CutPrefix(p, r.From+"/"); ok {
		return r.To + "/" + rest
	}
	return p
}

// remapOut shows the remapped workspace under its recorded path in a
// tool's answer.
func (s *Server) remapOut(text string) string {
	r := s.cfg.Remap
	if r == nil || r.From == "/" || !strings.Contains(text, r.To) {
		return text
	}
	return strings.ReplaceAll(text, r.To, r.From)
}
