#pragma once

#include <cstdint>
#include <string>

namespace guidance {

/// Deterministic interruption points, so tests and fault drills stop or kill a run at an exact
/// place instead of racing a timer against it. Read from the environment once:
///
///   GUIDANCE_STOP_AT_STEP=k   after step k, behave as Ctrl-C does (checkpoint, exit 130)
///   GUIDANCE_KILL_AT=POINT    SIGKILL this process on reaching POINT:
///                             "step:k"     once step k is appended to the record (unflushed)
///                             "snapshot:k" inside the snapshot of step k (before its target
///                                          activations, or a later batch of the guide's)
///                             "finish"     final rows appended, before the record is finished
///   GUIDANCE_SIGNAL_AT=evaluation:k
///                             raise SIGINT in this process before its k-th evaluation batch
///                             (counted over every evaluation), as Ctrl-C would arrive there
///
/// Unset (the normal case), both do nothing.

/// @return true when GUIDANCE_STOP_AT_STEP is set and `step` has reached it.
bool stop_point_reached(int64_t step);

/// SIGKILLs the process when GUIDANCE_KILL_AT names `point`.
void kill_point(const std::string& point);

/// Counts an evaluation batch; raises SIGINT when GUIDANCE_SIGNAL_AT names this one.
void evaluation_batch_point();

}  // namespace guidance
