// Package workspace prepares a workspace tar stream for copying into a
// sandbox container.
package workspace

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"
)

// ErrBadWorkspace marks a workspace tar that cannot be copied in.
var ErrBadWorkspace = errors.New("bad workspace tar")

// Rewrite copies the tar stream src to dst so that Docker can
// extract it into the sandbox: every name is put under prefix (the work
// directory's last element, or "" when extracting into it directly), every
// entry is owned by uid:gid (the sandbox user, who must be able to change
// the files), and missing parent directories get entries of their own.
// Modes, times and symlinks are kept. Names that would leave the workspace
// and device files are refused.
func Rewrite(src io.Reader, dst io.Writer, prefix string, uid, gid int) error {
	tw := tar.NewWriter(dst)
	seen := map[string]bool{}
	now := time.Now()
	dir := func(name string) error {
		if name == "" || name == "." || seen[name] {
			return nil
		}
		seen[name] = true
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o755, Uid: uid, Gid: gid, ModTime: now, Format: tar.FormatPAX})
	}
	parents := func(name string) error {
		var chain []string
		for p := path.Dir(name); p != "." && p != "/" && !seen[p]; p = path.Dir(p) {
			chain = append(chain, p)
		}
		for i := len(chain) - 1; i >= 0; i-- {
			if err := dir(chain[i]); err != nil {
				return err
			}
		}
		return nil
	}
	if err := dir(prefix); err != nil {
		return err
	}
	if src != nil {
		tr := tar.NewReader(src)
		for {
			hdr, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return fmt.Errorf("%w: %v", ErrBadWorkspace, err)
			}
			name, err := cleanName(hdr.Name)
			if err != nil {
				return err
			}
			if name == "." {
				continue // the workspace root itself
			}
			full := path.Join(prefix, name)
			h := &tar.Header{
				Name: full, Mode: hdr.Mode, Uid: uid, Gid: gid, Size: hdr.Size,
				ModTime: hdr.ModTime, Typeflag: hdr.Typeflag, Linkname: hdr.Linkname, Format: tar.FormatPAX,
			}
			switch hdr.Typeflag {
			case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse:
				h.Typeflag = tar.TypeReg
			case tar.TypeDir:
				if seen[full] {
					continue
				}
				seen[full] = true
				h.Name = full + "/"
				h.Mode = hdr.Mode | 0o700 // the sandbox user must be able to enter and change it
			case tar.TypeSymlink:
				h.Size = 0
			case tar.TypeLink:
				target, err := cleanName(hdr.Linkname)
				if err != nil || target == "." {
					return fmt.Errorf("%w: hard link %q points outside the workspace (%q)", ErrBadWorkspace, hdr.Name, hdr.Linkname)
				}
				h.Linkname = path.Join(prefix, target)
				h.Size = 0
			case tar.TypeFifo:
			case tar.TypeXGlobalHeader, tar.TypeXHeader, tar.TypeGNULongName, tar.TypeGNULongLink:
				continue
			default:
				return fmt.Errorf("%w: entry %q has type %q; only files, directories, links and fifos can be copied in", ErrBadWorkspace, hdr.Name, string(hdr.Typeflag))
			}
			if err := parents(full); err != nil {
				return err
			}
			if err := tw.WriteHeader(h); err != nil {
				return fmt.Errorf("%w: %v", ErrBadWorkspace, err)
			}
			if h.Typeflag == tar.TypeReg {
				if _, err := io.CopyN(tw, tr, h.Size); err != nil {
					return fmt.Errorf("%w: entry %q: %v", ErrBadWorkspace, hdr.Name, err)
				}
			}
		}
	}
	return tw.Close()
}

// cleanName makes a tar entry name relative and clean, refusing names that
// climb out ("../x") of the workspace.
func cleanName(name string) (string, error) {
	if strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("%w: entry name %q contains a NUL byte", ErrBadWorkspace, name)
	}
	n := path.Clean("/" + strings.TrimLeft(name, "/"))
	// Clean of "/"+x removes every "..": check the raw name too.
	for _, el := range strings.Split(name, "/") {
		if el == ".." {
			return "", fmt.Errorf("%w: entry %q leaves the workspace", ErrBadWorkspace, name)
		}
	}
	n = strings.TrimPrefix(n, "/")
	if n == "" {
		return ".", nil
	}
	return n, nil
}
