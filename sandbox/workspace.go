package sandbox

import "github.com/agentreplay/replay/sandbox/internal/workspace"

// ErrBadWorkspace marks a workspace tar that cannot be copied in (an entry
// climbing out of the workspace, a device file, a corrupt stream).
var ErrBadWorkspace = workspace.ErrBadWorkspace
