package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/docker/docker/client"
	"github.com/docker/go-connections/tlsconfig"
)

// ClientOptions say how to reach the Docker daemon. The zero value is the
// local daemon's default socket with API version negotiation.
type ClientOptions struct {
	// Host is the daemon address as in DOCKER_HOST: unix:///path,
	// tcp://host:port or ssh://[user@]host[:port].
	Host string
	// APIVersion pins the API version (DOCKER_API_VERSION); empty
	// negotiates with the daemon, so Docker 20.10 (API 1.41) and newer work.
	APIVersion string
	// CertPath is a directory holding ca.pem, cert.pem and key.pem
	// (DOCKER_CERT_PATH); TLSVerify verifies the daemon's certificate
	// (DOCKER_TLS_VERIFY).
	CertPath  string
	TLSVerify bool
}

// ClientOptionsFromEnv reads DOCKER_HOST, DOCKER_API_VERSION,
// DOCKER_CERT_PATH and DOCKER_TLS_VERIFY through getenv (os.Getenv at the
// CLI; packages never read the environment themselves).
func ClientOptionsFromEnv(getenv func(string) string) ClientOptions {
	return ClientOptions{
		Host:       getenv("DOCKER_HOST"),
		APIVersion: getenv("DOCKER_API_VERSION"),
		CertPath:   getenv("DOCKER_CERT_PATH"),
		TLSVerify:  getenv("DOCKER_TLS_VERIFY") != "",
	}
}

// NewClient connects to the Docker daemon and checks that it answers. When
// it does not, the error wraps ErrDockerUnavailable and says how to fix it.
func NewClient(ctx context.Context, opts ClientOptions) (*client.Client, error) {
	host := opts.Host
	var copts []client.Opt
	if opts.APIVersion != "" {
		copts = append(copts, client.WithVersion(opts.APIVersion))
	} else {
		copts = append(copts, client.WithAPIVersionNegotiation())
	}
	switch {
	case strings.HasPrefix(host, "ssh://"):
		dial, err := sshDialer(host)
		if err != nil {
			return nil, fmt.Errorf("connect to docker: %w", err)
		}
		copts = append(copts,
			client.WithHTTPClient(&http.Client{Transport: &http.Transport{DialContext: dial}}),
			client.WithHost("http://docker.example.com"),
			client.WithDialContext(dial))
	case host != "":
		copts = append(copts, client.WithHost(host))
	default:
		copts = append(copts, client.WithHost(client.DefaultDockerHost))
	}
	if opts.CertPath != "" && !strings.HasPrefix(host, "ssh://") {
		tlsc, err := tlsconfig.Client(tlsconfig.Options{
			CAFile:             filepath.Join(opts.CertPath, "ca.pem"),
			CertFile:           filepath.Join(opts.CertPath, "cert.pem"),
			KeyFile:            filepath.Join(opts.CertPath, "key.pem"),
			InsecureSkipVerify: !opts.TLSVerify,
		})
		if err != nil {
			return nil, fmt.Errorf("connect to docker: load TLS certificates from %q: %w", opts.CertPath, err)
		}
		copts = append([]client.Opt{client.WithHTTPClient(&http.Client{
			Transport:     &http.Transport{TLSClientConfig: tlsc},
			CheckRedirect: client.CheckRedirect,
		})}, copts...)
	}
	cli, err := client.NewClientWithOpts(copts...)
	if err != nil {
		return nil, fmt.Errorf("connect to docker at %q: %w", displayHost(host), err)
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx); err != nil {
		cli.Close()
		return nil, unavailable(host, err)
	}
	return cli, nil
}

func displayHost(host string) string {
	if host == "" {
		return client.DefaultDockerHost
	}
	return host
}

// unavailable explains a daemon that does not answer.
func unavailable(host string, err error) error {
	hint := "start Docker (`sudo systemctl start docker` on Linux, or open Docker Desktop) or set DOCKER_HOST to the daemon's address"
	if host != "" {
		hint = "check that DOCKER_HOST names a running daemon, or unset it to use the local one; start Docker with `sudo systemctl start docker` (or open Docker Desktop)"
	}
	return fmt.Errorf("%w at %q (DOCKER_HOST=%q): %v; %s", ErrDockerUnavailable, displayHost(host), host, err, hint)
}

// isConnErr reports whether err says the daemon could not be reached.
func isConnErr(err error) bool {
	return client.IsErrConnectionFailed(err) || errors.Is(err, context.DeadlineExceeded)
}

// sshDialer reaches a remote daemon as the docker CLI does: it runs
// `ssh [-l user] [-p port] host docker system dial-stdio` and speaks HTTP
// over the process's stdin/stdout.
func sshDialer(host string) (func(ctx context.Context, network, addr string) (net.Conn, error), error) {
	args, err := sshArgs(host)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, _, _ string) (net.Conn, error) {
		return newCommandConn(exec.Command("ssh", args...))
	}, nil
}

// sshArgs are the ssh arguments that reach the daemon of an ssh:// host.
func sshArgs(host string) ([]string, error) {
	u, err := url.Parse(host)
	if err != nil {
		return nil, fmt.Errorf("parse DOCKER_HOST %q: %w", host, err)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("parse DOCKER_HOST %q: no host name", host)
	}
	if u.Path != "" && u.Path != "/" {
		return nil, fmt.Errorf("parse DOCKER_HOST %q: a path is not supported for ssh", host)
	}
	var args []string
	if u.User != nil {
		args = append(args, "-l", u.User.Username())
	}
	if p := u.Port(); p != "" {
		args = append(args, "-p", p)
	}
	args = append(args, "--", u.Hostname(), "docker", "system", "dial-stdio")
	return args, nil
}
