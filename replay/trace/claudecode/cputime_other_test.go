//go:build !unix

package claudecode

import "time"

func processCPU() time.Duration { return 0 }

func peakRSSMB() float64 { return 0 }
