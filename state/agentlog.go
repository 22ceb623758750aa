package state

import "github.com/claudebox/claudebox/launch"

// agentLogDir is where an instance keeps the ssh-agent proxy's logs, one a
// session; netLogsKept of them, as the network's.
const agentLogDir = "agentlog"

// NewAgentLog returns the path of a new session's ssh-agent log in inst
// (the file is the caller's to create), removing the oldest beyond
// netLogsKept.
func NewAgentLog(inst *launch.Instance) (string, error) { return newSessionLog(inst, agentLogDir) }

// LastAgentLog is the newest ssh-agent log of inst; "" when it has none.
func LastAgentLog(inst *launch.Instance) string { return lastSessionLog(inst, agentLogDir) }
