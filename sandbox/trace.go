package sandbox

import (
	"fmt"
	"os"
	"time"
)

// With CLAUDEBOX_TRACE=1 a launch prints how long each step took, on
// stderr: where the start-up time goes (see hack/bench.sh).
var (
	traceOn    = os.Getenv("CLAUDEBOX_TRACE") != ""
	traceStart = time.Now()
	traceLast  = traceStart
)

func trace(step string) {
	if !traceOn {
		return
	}
	now := time.Now()
	fmt.Fprintf(os.Stderr, "claudebox trace: %-28s +%6.2f ms  (%6.2f ms)\n", step,
		float64(now.Sub(traceLast).Microseconds())/1000, float64(now.Sub(traceStart).Microseconds())/1000)
	traceLast = now
}
