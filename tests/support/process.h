// Run a program as a child process in tests: its stderr and stdout go to a
// file the test can read, and it can be signalled and waited for with a deadline.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace porchlight::test {

class Process {
public:
    /// Start \a argv[0] with \a argv; output (stdout and stderr) goes to \a logFile.
    /// \a env entries ("NAME=value") are added to the environment.
    Process(const std::vector<std::string>& argv, const std::string& logFile,
            const std::vector<std::string>& env = {})
        : logFile_(logFile) {
        std::vector<std::string> envStore;
        for (char** e = environ; *e; ++e)
            envStore.emplace_back(*e);
        for (const auto& e : env)
            envStore.push_back(e);
        std::vector<char*> args, envp;
        for (const auto& a : argv)
            args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        for (const auto& e : envStore)
            envp.push_back(const_cast<char*>(e.c_str()));
        envp.push_back(nullptr);

        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, 1, logFile.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                         0644);
        posix_spawn_file_actions_adddup2(&actions, 1, 2);
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
        if (posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), envp.data()) != 0)
            pid_ = -1;
        posix_spawn_file_actions_destroy(&actions);
    }
    ~Process() {
        if (pid_ > 0 && !status_) {
            ::kill(pid_, SIGKILL);
            int st;
            ::waitpid(pid_, &st, 0);
        }
    }
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;

    pid_t pid() const { return pid_; }
    bool started() const { return pid_ > 0; }
    // Never kill(-1, ...): that would signal every process we may signal.
    void signal(int sig) const {
        if (pid_ > 0)
            ::kill(pid_, sig);
    }

    /// The exit code, or 128+signal; nullopt if still running at the deadline.
    std::optional<int> wait(std::chrono::milliseconds deadline) {
        if (status_)
            return status_;
        const auto end = std::chrono::steady_clock::now() + deadline;
        for (;;) {
            int st = 0;
            pid_t r = ::waitpid(pid_, &st, WNOHANG);
            if (r == pid_) {
                status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                return status_;
            }
            if (std::chrono::steady_clock::now() >= end)
                return std::nullopt;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }

    std::string output() const {
        std::ifstream in(logFile_);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }

    /// Wait until the output contains \a text \a count times (or the deadline passes).
    bool waitForOutput(const std::string& text, std::chrono::milliseconds deadline,
                       int count = 1) const {
        const auto end = std::chrono::steady_clock::now() + deadline;
        while (std::chrono::steady_clock::now() < end) {
            if (countOf(text) >= count)
                return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        return countOf(text) >= count;
    }

    int countOf(const std::string& text) const {
        const std::string out = output();
        int n = 0;
        for (size_t pos = out.find(text); pos != std::string::npos; pos = out.find(text, pos + 1))
            ++n;
        return n;
    }

private:
    std::string logFile_;
    pid_t pid_ = -1;
    std::optional<int> status_;
};

}  // namespace porchlight::test
