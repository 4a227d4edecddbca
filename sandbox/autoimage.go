package sandbox

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"strings"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
	json "github.com/goccy/go-json"
)

// AutoImageName is the --image value that picks the image from the
// repository (AutoImage).
const AutoImageName = "auto"

// AutoSource is the repository an --image auto looks into, at the commit
// replayed.
type AutoSource struct {
	// ReadFile returns a file of the repository (an error satisfying
	// errors.Is(err, fs.ErrNotExist) when it has none).
	ReadFile func(ctx context.Context, name string) ([]byte, error)
	// WriteTree writes the repository's tree as a tar stream: the build
	// context of its Dockerfile.
	WriteTree func(ctx context.Context, w io.Writer) error
}

// AutoResult says which image --image auto chose and how.
type AutoResult struct {
	Image string `json:"image"`
	// How: "devcontainer image", "devcontainer build", "Dockerfile" or
	// "default" (with why in Note).
	How    string `json:"how"`
	Built  bool   `json:"built,omitempty"`  // built now (not reused from the cache)
	Source string `json:"source,omitempty"` // the file it came from
	Note   string `json:"note,omitempty"`
}

// autoResolver is what a Backend offers for --image auto.
type autoResolver interface {
	AutoImage(ctx context.Context, src AutoSource) (AutoResult, error)
}

// ResolveAutoImage picks the image of --image auto through b, when b can
// build images (the Docker backend can).
func ResolveAutoImage(ctx context.Context, b Backend, src AutoSource) (AutoResult, error) {
	r, ok := b.(autoResolver)
	if !ok {
		return AutoResult{}, errors.New("--image auto: this sandbox backend cannot build images; pass --image IMAGE")
	}
	return r.AutoImage(ctx, src)
}

// AutoImage picks the image for the repository (see AutoImageFor).
func (d *Docker) AutoImage(ctx context.Context, src AutoSource) (AutoResult, error) {
	return AutoImageFor(ctx, d.cli, src, d.Log)
}

// Image labels of the images --image auto builds.
const (
	LabelAutoSource = "io.replay.image.source" // the Dockerfile's path in the repository
)

// AutoImageFor picks the image of a replay from the repository's own
// definition of its environment, without pulling anything:
//
//  1. .devcontainer/devcontainer.json (or .devcontainer.json): its "image"
//     when the daemon has it locally, else its build.dockerfile, built;
//  2. else the Dockerfile at the repository's root, built;
//  3. else DefaultImage.
//
// A Dockerfile is built through the Engine API with the repository's tree
// (the devcontainer's build.context) as the context, tagged
// replay-auto:<hash of the context and the Dockerfile's path> and labelled,
// so the same tree builds once. A devcontainer file that does not parse and
// a build that fails are errors, the latter with the build log's tail; a
// failed build leaves no image of its own behind.
func AutoImageFor(ctx context.Context, cli *client.Client, src AutoSource, log io.Writer) (AutoResult, error) {
	if log == nil {
		log = io.Discard
	}
	dc, dcPath, err := readDevcontainer(ctx, src)
	if err != nil {
		return AutoResult{}, err
	}
	note := ""
	if dc != nil {
		if dc.Image != "" {
			if _, err := cli.ImageInspect(ctx, dc.Image); err == nil {
				return AutoResult{Image: dc.Image, How: "devcontainer image", Source: dcPath}, nil
			} else if !errdefs.IsNotFound(err) {
				return AutoResult{}, fmt.Errorf("--image auto: inspect image %q: %w", dc.Image, err)
			}
			note = fmt.Sprintf("%s names image %q, which the daemon does not have (replay pulls nothing: docker pull it to use it)", dcPath, dc.Image)
		}
		if df := dc.dockerfile(); df != "" {
			dir := path.Dir(dcPath)
			ctxDir := path.Clean(path.Join(dir, firstNonEmptyStr(dc.Build.Context, dc.Context, ".")))
			file := path.Clean(path.Join(dir, df))
			res, err := buildAuto(ctx, cli, src, ctxDir, file, log)
			res.How, res.Note = "devcontainer build", note
			return res, err
		}
	}
	if _, err := src.ReadFile(ctx, "Dockerfile"); err == nil {
		res, err := buildAuto(ctx, cli, src, ".", "Dockerfile", log)
		res.How, res.Note = "Dockerfile", note
		return res, err
	} else if !errors.Is(err, fs.ErrNotExist) {
		return AutoResult{}, fmt.Errorf("--image auto: read Dockerfile: %w", err)
	}
	if note == "" {
		note = "the repository has no .devcontainer/devcontainer.json and no Dockerfile"
	}
	return AutoResult{Image: DefaultImage, How: "default", Note: note}, nil
}

func firstNonEmptyStr(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// devcontainer is the part of devcontainer.json --image auto reads.
type devcontainer struct {
	Image      string `json:"image"`
	DockerFile string `json:"dockerFile"` // the older spelling, beside "context"
	Context    string `json:"context"`
	Build      struct {
		Dockerfile string `json:"dockerfile"`
		Context    string `json:"context"`
	} `json:"build"`
}

func (d *devcontainer) dockerfile() string { return firstNonEmptyStr(d.Build.Dockerfile, d.DockerFile) }

func readDevcontainer(ctx context.Context, src AutoSource) (*devcontainer, string, error) {
	for _, p := range []string{".devcontainer/devcontainer.json", ".devcontainer.json"} {
		b, err := src.ReadFile(ctx, p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, "", fmt.Errorf("--image auto: read %s: %w", p, err)
		}
		var dc devcontainer
		if err := json.Unmarshal(stripJSONC(b), &dc); err != nil {
			return nil, "", fmt.Errorf("--image auto: parse %s: %w (fix the file, or pass --image IMAGE)", p, err)
		}
		return &dc, p, nil
	}
	return nil, "", nil
}

// stripJSONC turns devcontainer.json's JSON with comments into JSON: //
// and /* */ comments and trailing commas go, strings are left alone.
func stripJSONC(b []byte) []byte {
	var out bytes.Buffer
	inStr, esc := false, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inStr {
			out.WriteByte(c)
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
			continue
		}
		switch {
		case c == '"':
			inStr = true
			out.WriteByte(c)
		case c == '/' && i+1 < len(b) && b[i+1] == '/':
			for i < len(b) && b[i] != '\n' {
				i++
			}
			out.WriteByte('\n')
		case c == '/' && i+1 < len(b) && b[i+1] == '*':
			end := bytes.Index(b[i+2:], []byte("*/"))
			if end < 0 {
				return out.Bytes() // unterminated: let the parser say so
			}
			i += end + 3
		default:
			out.WriteByte(c)
		}
	}
	return trailingComma.ReplaceAll(out.Bytes(), []byte("$1"))
}

var trailingComma = regexp.MustCompile(`,(\s*[}\]])`)

// buildAuto builds the Dockerfile file with the repository's tree under
// ctxDir as the context.
func buildAuto(ctx context.Context, cli *client.Client, src AutoSource, ctxDir, file string, log io.Writer) (AutoResult, error) {
	rel := strings.TrimPrefix(file, ctxDir+"/")
	if ctxDir == "." {
		rel = file
	} else if rel == file {
		return AutoResult{}, fmt.Errorf("--image auto: the Dockerfile %s is outside its build context %s", file, ctxDir)
	}
	var tree bytes.Buffer
	if err := subTree(ctx, src, ctxDir, &tree); err != nil {
		return AutoResult{}, fmt.Errorf("--image auto: build context %s: %w", ctxDir, err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "replay-auto/1\n%s\n", rel)
	h.Write(tree.Bytes())
	digest := hex.EncodeToString(h.Sum(nil))[:32]
	tag := "replay-auto:" + digest[:16]
	res := AutoResult{Image: tag, Source: file}
	if img, err := cli.ImageInspect(ctx, tag); err == nil && img.Config != nil && img.Config.Labels[LabelImageDigest] == digest {
		return res, nil
	}
	fmt.Fprintf(log, "sandbox: --image auto: building %s from %s\n", tag, file)
	resp, err := cli.ImageBuild(ctx, &tree, build.ImageBuildOptions{
		Tags: []string{tag}, Dockerfile: rel, Remove: true, ForceRemove: true, PullParent: false,
		Labels: map[string]string{LabelImage: "auto", LabelImageDigest: digest, LabelAutoSource: file},
	})
	if err != nil {
		return AutoResult{}, fmt.Errorf("--image auto: build %s: %w", file, err)
	}
	defer resp.Body.Close()
	created, tail, berr := readBuildStream(resp.Body)
	if berr != nil {
		// No half-built image: the layers this build made go (the cache
		// of layers other builds made stays).
		cctx := context.WithoutCancel(ctx)
		for i := len(created) - 1; i >= 0; i-- {
			cli.ImageRemove(cctx, created[i], image.RemoveOptions{PruneChildren: true})
		}
		cli.ImageRemove(cctx, tag, image.RemoveOptions{PruneChildren: true})
		return AutoResult{}, fmt.Errorf("--image auto: build %s: %w\nlast lines of the build log:\n%s", file, berr, indentLines(tail, "  "))
	}
	res.Built = true
	return res, nil
}

func indentLines(lines []string, p string) string {
	if len(lines) == 0 {
		return p + "(empty)"
	}
	return p + strings.Join(lines, "\n"+p)
}

// subTree writes the entries of the repository's tree under dir, renamed
// relative to it.
func subTree(ctx context.Context, src AutoSource, dir string, w io.Writer) error {
	if dir == "." {
		return src.WriteTree(ctx, w)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(src.WriteTree(ctx, pw)) }()
	defer pr.Close()
	tr, tw := tar.NewReader(pr), tar.NewWriter(w)
	prefix := dir + "/"
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(path.Clean(strings.TrimPrefix(h.Name, "./")), "/")
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		h.Name = strings.TrimPrefix(name, prefix)
		if h.Typeflag == tar.TypeDir {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
	return tw.Close()
}

// stepImageRE finds the image a legacy-builder step made (" ---> 1a2b3c").
var stepImageRE = regexp.MustCompile(`^ ---> ([0-9a-f]{12,64})$`)

// readBuildStream reads the daemon's build messages: the images the build
// made (steps that ran, not those from the cache), the last lines of its
// log, and the error it reports.
func readBuildStream(r io.Reader) (created, tail []string, err error) {
	dec := json.NewDecoder(bufio.NewReader(r))
	var partial string
	ran := false
	add := func(line string) {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" {
			return
		}
		switch {
		case strings.HasPrefix(line, " ---> Running in "):
			ran = true
		case strings.HasPrefix(line, " ---> Using cache"):
			ran = false
		default:
			if m := stepImageRE.FindStringSubmatch(line); m != nil && ran {
				created = append(created, m[1])
				ran = false
			}
		}
		tail = append(tail, line)
		if len(tail) > 20 {
			tail = tail[len(tail)-20:]
		}
	}
	for {
		var m struct {
			Stream      string `json:"stream"`
			Error       string `json:"error"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if derr := dec.Decode(&m); derr != nil {
			if errors.Is(derr, io.EOF) {
				break
			}
			return created, tail, fmt.Errorf("read the build's progress: %w", derr)
		}
		if m.Stream != "" {
			s := partial + m.Stream
			lines := strings.Split(s, "\n")
			partial = lines[len(lines)-1]
			for _, l := range lines[:len(lines)-1] {
				add(l)
			}
		}
		msg := m.Error
		if msg == "" && m.ErrorDetail != nil {
			msg = m.ErrorDetail.Message
		}
		if msg != "" {
			add(partial)
			return created, tail, errors.New(strings.TrimSpace(msg))
		}
	}
	add(partial)
	return created, tail, nil
}
