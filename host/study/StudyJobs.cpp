#include "host/study/StudyJobs.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include "host/common/Errors.h"
#include "host/common/TextFormat.h"
#include "host/training/Progress.h"

extern char** environ;

namespace guidance {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

std::string last_line_of(const std::string& path) {
  std::ifstream in(path);
  std::string line, last;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") != std::string::npos) last = line;
  }
  return last;
}

// The --jobs parent's stop request: set by the signal handler, which also wakes poll().
std::atomic<bool> jobs_stop{false};
int jobs_wake_fd = -1;

void on_jobs_signal(int) {
  jobs_stop.store(true);
  if (jobs_wake_fd >= 0) {
    char byte = 1;
    ssize_t ignored = ::write(jobs_wake_fd, &byte, 1);
    (void)ignored;
  }
}

/// A pipe whose two ends are close-on-exec and numbered above 3, so that a child's
/// dup2(end, 3) always clears close-on-exec on its copy.
std::pair<int, int> make_pipe() {
  int ends[2];
  if (::pipe(ends) != 0) throw RunError(std::string("cannot create a pipe: ") + std::strerror(errno));
  for (int& end : ends) {
    int moved = ::fcntl(end, F_DUPFD_CLOEXEC, 10);
    ::close(end);
    if (moved < 0) throw RunError(std::string("cannot duplicate a pipe: ") + std::strerror(errno));
    end = moved;
  }
  return {ends[0], ends[1]};
}

/// One child process training one run.
struct Job {
  size_t slot = 0;  ///< its run's index in SelectedRuns::runs
  pid_t pid = -1;
  int fd = -1;  ///< read end of its progress pipe
  std::string pending;  ///< a progress line not yet complete
  int64_t step = 0;
  int64_t total = 0;
  Clock::time_point started;
  std::optional<int64_t> first_step;
  Clock::time_point first_step_time;
  std::string log;
  std::optional<std::string> busy;
};

enum class Outcome { Done, Failed, Busy, Interrupted, Skipped };

/// The parent's view of a --jobs study: the children, their states, the display.
class JobPool {
 public:
  JobPool(const SelectedRuns& study, const JobOptions& options, std::ostream& err)
      : study_(study), options_(options), err_(err),
        terminal_(!options.quiet && is_terminal(err)) {}

  /// Trains the runs at `slots` of the study; `done_before` more runs were done already.
  void run(const std::vector<size_t>& slots, size_t done_before, int64_t threads) {
    threads_ = threads;
    concurrent_runs_ = std::max<size_t>(1, std::min<size_t>(options_.jobs, slots.size()));
    for (size_t slot : slots) pending_.push_back(slot);
    planned_ = slots.size() + done_before;
    done_before_ = done_before;
    auto [wake_read, wake_write] = make_pipe();
    ::fcntl(wake_read, F_SETFL, O_NONBLOCK);
    ::fcntl(wake_write, F_SETFL, O_NONBLOCK);
    jobs_wake_fd = wake_write;
    jobs_stop.store(false);
    struct sigaction action {};
    action.sa_handler = on_jobs_signal;
    sigemptyset(&action.sa_mask);
    struct sigaction old_int {}, old_term {};
    sigaction(SIGINT, &action, &old_int);
    sigaction(SIGTERM, &action, &old_term);
    started_ = Clock::now();
    try {
      loop(wake_read);
    } catch (...) {
      stop_children();
      while (!running_.empty()) reap(running_.begin());
      restore(old_int, old_term, wake_read, wake_write);
      throw;
    }
    restore(old_int, old_term, wake_read, wake_write);
  }

  bool stopped() const { return stopping_; }
  const std::map<size_t, Outcome>& outcomes() const { return outcomes_; }
  const std::map<size_t, std::string>& notes() const { return notes_; }

 private:
  void restore(const struct sigaction& old_int, const struct sigaction& old_term, int wake_read,
               int wake_write) {
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
    jobs_wake_fd = -1;
    ::close(wake_read);
    ::close(wake_write);
    clear_display();
  }

  void loop(int wake_read) {
    while (true) {
      if (jobs_stop.load() && !stopping_) {
        stopping_ = true;
        event("stopping: the running runs save a checkpoint (continue with --jobs again or "
              "--resume)");
        stop_children();
      }
      while (!stopping_ && !pending_.empty() &&
             running_.size() < static_cast<size_t>(options_.jobs)) {
        launch(pending_.front());
        pending_.pop_front();
      }
      if (running_.empty()) return;
      draw();
      std::vector<pollfd> fds;
      fds.push_back({wake_read, POLLIN, 0});
      for (const auto& job : running_) fds.push_back({job.fd, POLLIN, 0});
      int ready = ::poll(fds.data(), fds.size(), terminal_ ? 1000 : -1);
      if (ready < 0 && errno != EINTR) {
        throw RunError(std::string("poll failed: ") + std::strerror(errno));
      }
      if (ready <= 0) continue;
      if (fds[0].revents != 0) {
        char buffer[64];
        while (::read(wake_read, buffer, sizeof(buffer)) > 0) {
        }
      }
      // Collect finished children after the scan so that `running_` does not shift under it.
      std::vector<int> finished;
      for (size_t i = 1; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        auto job = std::find_if(running_.begin(), running_.end(),
                                [&](const Job& j) { return j.fd == fds[i].fd; });
        if (!read_progress(*job)) finished.push_back(job->fd);
      }
      for (int fd : finished) {
        reap(std::find_if(running_.begin(), running_.end(), [&](const Job& j) { return j.fd == fd; }));
      }
    }
  }

  void launch(size_t slot) {
    const Config& config = study_.configs[slot];
    const std::string& name = study_.runs[slot].name;
    fs::create_directories(config.run_directory());
    Job job;
    job.slot = slot;
    job.log = (fs::path(config.run_directory()) / "log.txt").string();
    job.started = Clock::now();

    std::vector<std::string> args = {"/proc/self/exe"};
    for (const auto& dir : options_.plugin_dirs) {
      args.push_back("--plugin-dir");
      args.push_back(fs::absolute(dir).string());
    }
    args.insert(args.end(), {"run", fs::absolute(study_.config_path).string()});
    for (const auto& argument : study_.sweep.overrides().arguments()) args.push_back(argument);
    args.insert(args.end(), {"--run-index",
                             std::to_string(study_.runs[slot].index), "--threads", std::to_string(threads_),
                             "--concurrent-runs", std::to_string(concurrent_runs_),
                             "--progress-fd", "3", options_.restart ? "--restart" : "--resume"});
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);

    auto [read_end, write_end] = make_pipe();
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, job.log.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                     0644);
    posix_spawn_file_actions_adddup2(&actions, 2, 1);
    posix_spawn_file_actions_adddup2(&actions, write_end, 3);
    int error = posix_spawn(&job.pid, "/proc/self/exe", &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(write_end);
    if (error != 0) {
      ::close(read_end);
      throw RunError("cannot start a process for run " + name + ": " + std::strerror(error));
    }
    job.fd = read_end;
    running_.push_back(job);
    if (!terminal_ && !options_.quiet) {
      event("started " + name + " (pid " + std::to_string(job.pid) + ", " +
            std::to_string(threads_) + " thread" + (threads_ == 1 ? "" : "s") + ", log " +
            job.log + ")");
    }
  }

  /// Reads what the child wrote. @return false at end of file (the child has exited).
  bool read_progress(Job& job) {
    char buffer[4096];
    ssize_t got = ::read(job.fd, buffer, sizeof(buffer));
    if (got < 0) return errno == EINTR || errno == EAGAIN;
    if (got == 0) return false;
    job.pending.append(buffer, static_cast<size_t>(got));
    for (size_t end; (end = job.pending.find('\n')) != std::string::npos;) {
      std::string line = job.pending.substr(0, end);
      job.pending.erase(0, end + 1);
      std::istringstream words(line);
      std::string kind;
      words >> kind;
      if (kind == "step") {
        words >> job.step >> job.total;
        if (!job.first_step) {
          job.first_step = job.step;
          job.first_step_time = Clock::now();
          if (!terminal_) {
            event("run " + study_.runs[job.slot].name + " training: " +
                  std::to_string(job.total) + " steps" +
                  (job.step > 1 ? " (resumed at step " + std::to_string(job.step) + ")" : ""));
          }
        }
      } else if (kind == "busy") {
        job.busy = line.size() > 5 ? line.substr(5) : std::string("held by another process");
      }
    }
    return true;
  }

  void reap(std::vector<Job>::iterator job) {
    int status = 0;
    while (::waitpid(job->pid, &status, 0) < 0 && errno == EINTR) {
    }
    ::close(job->fd);
    const std::string& name = study_.runs[job->slot].name;
    double seconds = std::chrono::duration<double>(Clock::now() - job->started).count();
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    Outcome outcome;
    std::string note;
    if (code == 0) {
      outcome = Outcome::Done;
      durations_.push_back(seconds);
      note = "done in " + duration_text(seconds);
    } else if (job->busy) {
      outcome = Outcome::Busy;
      note = "busy: " + *job->busy;
    } else if (code == 130) {
      outcome = Outcome::Interrupted;
      note = "interrupted, checkpoint saved";
    } else if ((stopping_ || jobs_stop.load()) && WIFSIGNALED(status) &&
               (WTERMSIG(status) == SIGTERM || WTERMSIG(status) == SIGINT)) {
      outcome = Outcome::Interrupted;  // stopped before it could install its handlers
      note = "stopped before training";
    } else {
      outcome = Outcome::Failed;
      std::string why = WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                                            : "exit " + std::to_string(code);
      std::string last = last_line_of(job->log);
      note = "FAILED (" + why + ")" + (last.empty() ? "" : ": " + last) + "; log: " + job->log;
    }
    outcomes_[job->slot] = outcome;
    notes_[job->slot] = note;
    running_.erase(job);
    if (outcome == Outcome::Failed || outcome == Outcome::Busy || !options_.quiet) {
      event("run " + name + " " + note, outcome == Outcome::Failed || outcome == Outcome::Busy);
    }
  }

  void stop_children() {
    for (const auto& job : running_) ::kill(job.pid, SIGTERM);
  }

  size_t count(Outcome outcome) const {
    return static_cast<size_t>(std::count_if(outcomes_.begin(), outcomes_.end(),
                                             [&](const auto& entry) { return entry.second == outcome; }));
  }

  /// The study's ETA: what the running runs have left, plus the pending runs at the mean
  /// duration of a run so far, spread over the jobs.
  std::string study_line() const {
    std::ostringstream line;
    size_t failed = count(Outcome::Failed) + count(Outcome::Busy);
    line << "study " << study_.sweep.study() << ": " << count(Outcome::Done) + done_before_ << "/"
         << planned_ << " done, " << running_.size() << " running, " << failed << " failed";
    std::vector<double> estimates = durations_;
    double left = 0;
    bool known = true;
    for (const auto& job : running_) {
      std::optional<double> remaining = remaining_seconds(job);
      if (!remaining) {
        known = false;
        continue;
      }
      left += *remaining;
      estimates.push_back(std::chrono::duration<double>(Clock::now() - job.started).count() + *remaining);
    }
    if (!pending_.empty() && !estimates.empty()) {
      double mean = 0;
      for (double value : estimates) mean += value;
      left += mean / estimates.size() * pending_.size();
    } else if (!pending_.empty()) {
      known = false;
    }
    if (known && !stopping_ && (!running_.empty() || !pending_.empty())) {
      line << ", ETA " << duration_text(left / std::max<size_t>(1, options_.jobs));
    }
    return line.str();
  }

  std::optional<double> remaining_seconds(const Job& job) const {
    if (!job.first_step || job.step <= *job.first_step || job.total <= 0) return std::nullopt;
    double elapsed = std::chrono::duration<double>(Clock::now() - job.first_step_time).count();
    double rate = static_cast<double>(job.step - *job.first_step) / std::max(elapsed, 1e-6);
    return static_cast<double>(job.total - job.step) / rate;
  }

  std::string job_line(const Job& job) const {
    std::ostringstream line;
    line << "  " << study_.runs[job.slot].name;
    if (job.total > 0) {
      line << "  step " << job.step << "/" << job.total;
    } else {
      line << "  starting";
    }
    line << "  " << duration_text(std::chrono::duration<double>(Clock::now() - job.started).count());
    if (std::optional<double> remaining = remaining_seconds(job)) {
      line << ", ETA " << duration_text(*remaining);
    }
    return line.str();
  }

  void clear_display() {
    if (drawn_ > 0) err_ << "\033[" << drawn_ << "F\033[J";
    drawn_ = 0;
  }

  void draw() {
    if (!terminal_) return;
    auto now = Clock::now();
    if (drawn_ > 0 && now - last_draw_ < std::chrono::milliseconds(200)) return;
    last_draw_ = now;
    clear_display();
    // A line longer than the terminal wraps and would spoil the redraw: cut it to the width.
    size_t width = 80;
    winsize size{};
    if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 1) width = size.ws_col;
    auto fit = [&](std::string line) { return line.size() < width ? line : line.substr(0, width - 1); };
    for (const auto& job : running_) err_ << fit(job_line(job)) << "\n";
    err_ << fit(study_line()) << "\n" << std::flush;
    drawn_ = running_.size() + 1;
  }

  /// Prints an event above the live lines (on a terminal) or as a plain line followed by the
  /// study line.
  void event(const std::string& text, bool always = false) {
    if (options_.quiet && !always) return;
    clear_display();
    err_ << "guidance: " << text << "\n";
    if (!terminal_ && !options_.quiet) err_ << study_line() << "\n";
    err_ << std::flush;
    last_draw_ = {};
  }

  const SelectedRuns& study_;
  const JobOptions& options_;
  std::ostream& err_;
  bool terminal_;
  int64_t threads_ = 1;
  size_t concurrent_runs_ = 1;  ///< children at once, who share the machine's memory
  size_t planned_ = 0;
  size_t done_before_ = 0;
  std::deque<size_t> pending_;
  std::vector<Job> running_;
  std::map<size_t, Outcome> outcomes_;
  std::map<size_t, std::string> notes_;
  std::vector<double> durations_;
  bool stopping_ = false;
  Clock::time_point started_;
  Clock::time_point last_draw_;
  size_t drawn_ = 0;
};

}  // namespace

int run_study_jobs(const SelectedRuns& study, const JobOptions& options, std::ostream& out,
                   std::ostream& err) {
  const size_t runs = study.runs.size();
  std::vector<size_t> to_train;
  std::vector<bool> done_earlier(runs, false);
  for (size_t slot = 0; slot < runs; ++slot) {
    done_earlier[slot] =
        !options.restart && run_state(study.configs[slot].run_directory()) == RunState::Done;
    if (!done_earlier[slot]) to_train.push_back(slot);
  }
  const size_t already_done = runs - to_train.size();
  int64_t threads = options.threads;
  if (threads < 1) {
    unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    size_t jobs = std::max<size_t>(1, std::min<size_t>(options.jobs, to_train.size()));
    threads = std::max<int64_t>(1, static_cast<int64_t>(cores / jobs));
  }
  size_t jobs = std::min<size_t>(options.jobs, std::max<size_t>(1, to_train.size()));
  if (!options.quiet) {
    err << "guidance: " << runs << (runs == 1 ? " run" : " runs") << ", " << already_done
        << " already done; training " << to_train.size() << " with " << jobs << " job"
        << (jobs == 1 ? "" : "s") << " of " << threads << " thread" << (threads == 1 ? "" : "s")
        << "\n";
  }
  JobPool pool(study, options, err);
  pool.run(to_train, already_done, threads);

  size_t width = 3;
  for (const SweepRun& run : study.runs) width = std::max(width, run.name.size());
  out << "\n" << std::left << std::setw(width + 2) << "run" << "outcome\n";
  size_t failed = 0;
  size_t unfinished = 0;
  for (size_t slot = 0; slot < runs; ++slot) {
    std::string note;
    if (done_earlier[slot]) {
      note = "done earlier (skipped)";
    } else if (auto found = pool.notes().find(slot); found != pool.notes().end()) {
      note = found->second;
      Outcome outcome = pool.outcomes().at(slot);
      if (outcome == Outcome::Failed || outcome == Outcome::Busy) ++failed;
      if (outcome != Outcome::Done) ++unfinished;
    } else {
      note = "not started";
      ++unfinished;
    }
    out << std::setw(width + 2) << study.runs[slot].name << note << "\n";
  }
  if (pool.stopped()) {
    err << "guidance: interrupted; checkpoints were saved. Continue with: guidance run "
        << config_arguments(study) << " --jobs " << options.jobs << "\n";
    return 130;
  }
  if (failed > 0) {
    err << "guidance: " << failed << " of " << runs << (runs == 1 ? " run" : " runs")
        << " failed or were busy (see above); the others are done\n";
    return 1;
  }
  return unfinished > 0 ? 1 : 0;
}

}  // namespace guidance
