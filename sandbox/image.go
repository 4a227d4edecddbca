package sandbox

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
	json "github.com/goccy/go-json"
)

// DefaultImage is the sandbox image BuildImage makes: a busybox-static
// root filesystem with a non-root user. It holds no executor: that is
// copied into every container at start, as into any other image.
const DefaultImage = "replay-sandbox:latest"

// Image labels.
const (
	LabelImage       = "io.replay.image"        // "default"
	LabelImageDigest = "io.replay.image.digest" // content hash of the build inputs
)

// imageFormat changes whenever the layout below changes, forcing a rebuild.
const imageFormat = "2"

// BuildOptions configure BuildImage.
type BuildOptions struct {
	// Tag names the image (default DefaultImage).
	Tag string
	// Busybox is the path of a statically linked busybox for the daemon's
	// architecture. Empty looks for /bin/busybox, /usr/bin/busybox and
	// busybox on PATH (Debian and Ubuntu: apt-get install busybox-static).
	Busybox string
	// Force rebuilds even when an identical image exists.
	Force bool
}

// BuildResult says what BuildImage did.
type BuildResult struct {
	Tag     string `json:"tag"`
	ID      string `json:"id"`
	Digest  string `json:"digest"`  // hash of the inputs, kept as a label
	Busybox string `json:"busybox"` // the busybox used
	Reused  bool   `json:"reused"`  // an identical image existed; nothing was built
	// Programs are the host's programs copied in beside busybox (git,
	// bash), with their shared libraries; Missing says why one is not.
	Programs []string `json:"programs,omitempty"`
	Missing  []string `json:"missing,omitempty"`
}

// BuildImage builds the default sandbox image locally, without a registry:
// it writes a root filesystem (busybox-static and its applet links,
// /etc/passwd with the sandbox user 1000, /tmp, /sandbox/workspace) as a
// tar stream and imports it through the Engine API's image import (what
// `docker import` does). An image built from the same busybox is reused.
func BuildImage(ctx context.Context, cli *client.Client, opts BuildOptions) (BuildResult, error) {
	if opts.Tag == "" {
		opts.Tag = DefaultImage
	}
	bbPath, err := findBusybox(opts.Busybox)
	if err != nil {
		return BuildResult{}, fmt.Errorf("build image %q: %w", opts.Tag, err)
	}
	bb, err := os.ReadFile(bbPath)
	if err != nil {
		return BuildResult{}, fmt.Errorf("build image %q: %w", opts.Tag, err)
	}
	ver, err := cli.ServerVersion(ctx)
	if err != nil {
		if isConnErr(err) {
			return BuildResult{}, fmt.Errorf("build image %q: %w", opts.Tag, unavailable(cli.DaemonHost(), err))
		}
		return BuildResult{}, fmt.Errorf("build image %q: %w", opts.Tag, err)
	}
	arch := goArch(ver.Arch)
	if err := checkStaticELF(bb, arch); err != nil {
		return BuildResult{}, fmt.Errorf("build image %q: busybox %q: %w (install busybox-static)", opts.Tag, bbPath, err)
	}
	applets := busyboxApplets(ctx, bbPath)
	extras, notes := hostPrograms(ctx, arch, hostProgramNames)
	h := sha256.New()
	fmt.Fprintf(h, "replay-sandbox/%s\n%s\n", imageFormat, strings.Join(applets, " "))
	h.Write(bb)
	for _, e := range extras {
		fmt.Fprintf(h, "%s %o %d\n", e.Path, e.Mode, len(e.Data))
		h.Write(e.Data)
	}
	digest := hex.EncodeToString(h.Sum(nil))[:32]
	res := BuildResult{Tag: opts.Tag, Digest: digest, Busybox: bbPath, Missing: notes}
	for _, e := range extras {
		if e.Program {
			res.Programs = append(res.Programs, "/"+e.Path)
		}
	}

	if !opts.Force {
		if img, err := cli.ImageInspect(ctx, opts.Tag); err == nil && img.Config != nil && img.Config.Labels[LabelImageDigest] == digest {
			res.ID, res.Reused = img.ID, true
			return res, nil
		} else if err != nil && !errdefs.IsNotFound(err) {
			return BuildResult{}, fmt.Errorf("build image %q: %w", opts.Tag, err)
		}
	}

	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeRootfs(pw, bb, applets, extras)) }()
	changes := []string{
		"USER " + DefaultUser,
		"WORKDIR " + DefaultWorkDir,
		"ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"ENV HOME=/tmp",
		"LABEL " + LabelImage + "=default",
		"LABEL " + LabelImageDigest + "=" + digest,
		`CMD ["/bin/sh"]`,
	}
	out, err := cli.ImageImport(ctx, image.ImportSource{Source: pr, SourceName: "-"}, opts.Tag, image.ImportOptions{
		Changes: changes, Message: "replay sandbox " + imageFormat, Platform: "linux/" + arch,
	})
	if err != nil {
		pr.CloseWithError(err)
		return BuildResult{}, fmt.Errorf("build image %q: import: %w", opts.Tag, err)
	}
	defer out.Close()
	id, err := readImportStream(out)
	if err != nil {
		return BuildResult{}, fmt.Errorf("build image %q: import: %w", opts.Tag, err)
	}
	res.ID = id
	return res, nil
}

// readImportStream reads the daemon's JSON progress messages and returns
// the new image id or the error they report.
func readImportStream(r io.Reader) (string, error) {
	dec := json.NewDecoder(bufio.NewReader(r))
	var id string
	for {
		var m struct {
			Status      string `json:"status"`
			Error       string `json:"error"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return "", err
		}
		if m.Error != "" {
			return "", errors.New(m.Error)
		}
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			return "", errors.New(m.ErrorDetail.Message)
		}
		if strings.HasPrefix(m.Status, "sha256:") {
			id = strings.TrimSpace(m.Status)
		}
	}
	if id == "" {
		return "", errors.New("the daemon returned no image id")
	}
	return id, nil
}

func findBusybox(p string) (string, error) {
	if p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("busybox: %w", err)
		}
		return p, nil
	}
	for _, c := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		if fi, err := os.Stat(c); err == nil && fi.Mode().IsRegular() {
			return c, nil
		}
	}
	if lp, err := exec.LookPath("busybox"); err == nil {
		return lp, nil
	}
	return "", errors.New("no static busybox on this host, so the default sandbox image cannot be built from local material: install one (Debian/Ubuntu: `apt-get install busybox-static`), pass its path (replay sandbox build --busybox PATH), or run the tools in an image you have with --image IMAGE (or --image auto for the repository's own)")
}

// busyboxApplets asks busybox for its applets, falling back to a fixed set
// when it cannot run here (another architecture).
func busyboxApplets(ctx context.Context, bb string) []string {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(cctx, bb, "--list").Output()
	var list []string
	if err == nil {
		for _, l := range strings.Fields(string(out)) {
			if l != "" && !strings.ContainsAny(l, "/[") {
				list = append(list, l)
			}
		}
	}
	if len(list) == 0 {
		list = strings.Fields(`ash awk basename cat chmod cp cut date diff dirname du echo env expr false find grep egrep fgrep
			head hexdump id kill less ln ls md5sum mkdir mktemp mv nc od patch printf ps pwd readlink realpath rm rmdir sed seq
			sh sha1sum sha256sum sleep sort stat tail tar tee test timeout touch tr true uname uniq unzip vi wc wget which xargs yes zcat gzip gunzip xxd`)
	}
	return list
}

// writeRootfs writes the default image's root filesystem as a tar.
func writeRootfs(w io.Writer, bb []byte, applets []string, extras []hostFile) error {
	tw := tar.NewWriter(w)
	now := time.Now()
	uid, gid, _ := parseUser(DefaultUser)
	dir := func(name string, mode int64, owner int) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, Uid: owner, Gid: owner, ModTime: now})
	}
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: now}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	link := func(name, target string) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777, ModTime: now})
	}
	for _, d := range []string{"bin", "sbin", "usr", "usr/bin", "usr/sbin", "usr/local", "usr/local/bin", "etc", "dev", "proc", "sys", "sandbox", ".replay", "var", "var/tmp"} {
		if err := dir(d, 0o755, 0); err != nil {
			return err
		}
	}
	if err := dir("root", 0o700, 0); err != nil {
		return err
	}
	if err := dir("tmp", 0o1777, 0); err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "sandbox/workspace/", Mode: 0o755, Uid: uid, Gid: gid, ModTime: now}); err != nil {
		return err
	}
	if err := file("bin/busybox", 0o755, bb); err != nil {
		return err
	}
	taken := map[string]bool{}
	for _, e := range extras {
		taken[e.Path] = true
	}
	for _, a := range applets {
		if a == "busybox" || taken["bin/"+a] {
			continue
		}
		if err := link("bin/"+a, "busybox"); err != nil {
			return err
		}
	}
	if err := link("usr/bin/env", "../../bin/busybox"); err != nil {
		return err
	}
	made := map[string]bool{}
	for _, d := range []string{"bin", "sbin", "usr", "usr/bin", "usr/sbin", "usr/local", "usr/local/bin", "etc", "dev", "proc", "sys", "sandbox", ".replay", "var", "var/tmp", "root", "tmp"} {
		made[d] = true
	}
	for _, e := range extras {
		var parents []string
		for d := path.Dir(e.Path); d != "." && !made[d]; d = path.Dir(d) {
			parents = append([]string{d}, parents...)
		}
		for _, d := range parents {
			made[d] = true
			if err := dir(d, 0o755, 0); err != nil {
				return err
			}
		}
		if err := file(e.Path, e.Mode, e.Data); err != nil {
			return err
		}
	}
	if taken["usr/bin/git"] { // git init looks for its templates
		for _, d := range []string{"usr/share", "usr/share/git-core", "usr/share/git-core/templates"} {
			if !made[d] {
				if err := dir(d, 0o755, 0); err != nil {
					return err
				}
			}
		}
	}
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/bin/sh\nreplay:x:%d:%d:replay sandbox:/tmp:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n", uid, gid)
	group := fmt.Sprintf("root:x:0:\nreplay:x:%d:\nnogroup:x:65534:\n", gid)
	for _, f := range []struct{ name, data string }{
		{"etc/passwd", passwd},
		{"etc/group", group},
		{"etc/hostname", "sandbox\n"},
		{"etc/os-release", "NAME=\"replay sandbox\"\nID=replay-sandbox\nVERSION_ID=" + imageFormat + "\n"},
	} {
		if err := file(f.name, 0o644, []byte(f.data)); err != nil {
			return err
		}
	}
	return tw.Close()
}

// hostProgramNames are the programs agents call that busybox lacks or
// imitates poorly: git (a recorded `git status`, `git diff`, `git log`)
// and bash (Claude Code's Bash runs bash; ash differs in syntax and in
// its error messages). Each is copied from the host with the shared
// libraries ldd names, at their own paths: local material, as the image
// must be built without a registry.
var hostProgramNames = []struct{ name, at string }{
	{"bash", "bin/bash"},
	{"git", "usr/bin/git"},
}

// hostFile is one file of the host copied into the image.
type hostFile struct {
	Path    string // in the image, without the leading slash
	Mode    int64
	Data    []byte
	Program bool
}

var lddLine = regexp.MustCompile(`(?:=>\s*)?(/\S+)\s+\(0x[0-9a-f]+\)`)

// hostPrograms finds the named programs on the host, with their shared
// libraries, when they are Linux programs for arch; notes say why one is
// left out (not installed, another architecture, no ldd to find its
// libraries), so a build on a Mac still gives a working busybox image.
func hostPrograms(ctx context.Context, arch string, names []struct{ name, at string }) ([]hostFile, []string) {
	var out []hostFile
	var notes []string
	seen := map[string]bool{}
	add := func(p, at string, program bool) error {
		if seen[at] {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		seen[at] = true
		out = append(out, hostFile{Path: at, Mode: 0o755, Data: b, Program: program})
		return nil
	}
	for _, n := range names {
		p, err := exec.LookPath(n.name)
		if err != nil {
			notes = append(notes, n.name+": not installed on this host")
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			notes = append(notes, fmt.Sprintf("%s: %v", n.name, err))
			continue
		}
		if err := checkELF(b, arch); err != nil {
			notes = append(notes, fmt.Sprintf("%s (%s): %v", n.name, p, err))
			continue
		}
		var libs []string
		if err := checkStaticELF(b, arch); err != nil { // dynamically linked: its libraries too
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			ldd, err := exec.CommandContext(cctx, "ldd", p).Output()
			cancel()
			if err != nil {
				notes = append(notes, fmt.Sprintf("%s (%s): ldd cannot list its libraries: %v", n.name, p, err))
				continue
			}
			for _, m := range lddLine.FindAllStringSubmatch(string(ldd), -1) {
				libs = append(libs, m[1])
			}
		}
		if err := add(p, n.at, true); err != nil {
			notes = append(notes, fmt.Sprintf("%s: %v", n.name, err))
			continue
		}
		for _, l := range libs {
			if err := add(l, strings.TrimPrefix(path.Clean(l), "/"), false); err != nil {
				notes = append(notes, fmt.Sprintf("%s: library %s: %v", n.name, l, err))
			}
		}
	}
	return out, notes
}

// checkELF checks that b is a Linux ELF executable for arch, statically
// linked or not.
func checkELF(b []byte, arch string) error {
	err := checkStaticELF(b, arch)
	if err != nil && strings.Contains(err.Error(), "dynamically linked") {
		return nil
	}
	return err
}
