// Package trace prints, with CLAUDEBOX_TRACE=1, how long each step of a
// launch took, on stderr: where the start-up time goes (hack/bench.sh).
// The launcher and its helpers share it.
package trace

import (
	"fmt"
	"os"
	"time"
)

var (
	// On is whether tracing is on (CLAUDEBOX_TRACE set): helpers started
	// by a traced launch are traced too.
	On    = os.Getenv("CLAUDEBOX_TRACE") != ""
	start = time.Now()
	last  = start
)

// Step prints the time since the last step and since the start.
func Step(step string) {
	if !On {
		return
	}
	now := time.Now()
	fmt.Fprintf(os.Stderr, "claudebox trace: %-28s +%6.2f ms  (%6.2f ms)\n", step,
		float64(now.Sub(last).Microseconds())/1000, float64(now.Sub(start).Microseconds())/1000)
	last = now
}
