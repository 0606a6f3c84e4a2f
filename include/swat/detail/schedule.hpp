// Scheduling: which tile runs on which thread. This code lives with the caller (forward.hpp),
// never in the per-ISA kernels, which receive it as a plain function pointer: a mutex or a
// std::function compiled with AVX-512 flags must not be able to reach an older CPU. A persistent pool of workers takes tasks from
// a shared counter; every task writes its own rows of the output, so the result does not
// depend on which thread ran what, and the same input gives the same bits for any thread count.
#pragma once


#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace swat {
namespace detail {

class ThreadPool {
 public:
  static ThreadPool& instance() {
    static ThreadPool pool;
    return pool;
  }

  // Runs body(task) for every task in [0, tasks) on up to `threads` threads, the caller being
  // one of them. When another call holds the pool, this one runs on the caller alone.
  void run(int threads, int64_t tasks, const std::function<void(int64_t)>& body) {
    const int helpers = static_cast<int>(std::min<int64_t>(threads, tasks)) - 1;
    std::unique_lock<std::mutex> busy(run_mutex_, std::try_to_lock);
    if (helpers <= 0 || !busy.owns_lock()) {
      for (int64_t t = 0; t < tasks; ++t) body(t);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      while (static_cast<int>(workers_.size()) < helpers) {
        const int index = static_cast<int>(workers_.size());
        workers_.emplace_back([this, index] { work(index); });
      }
      body_ = &body;
      tasks_ = tasks;
      next_.store(0);
      active_ = helpers;
      pending_ = helpers;
      error_ = nullptr;
      ++generation_;
    }
    wake_.notify_all();
    std::exception_ptr caller_error;
    try {
      drain();
    } catch (...) {
      caller_error = std::current_exception();
      next_.store(tasks);  // stop handing out tasks
    }
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return pending_ == 0; });
    body_ = nullptr;
    if (caller_error) std::rethrow_exception(caller_error);
    if (error_) std::rethrow_exception(error_);
  }

  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
  }

 private:
  ThreadPool() = default;

  void drain() {
    for (int64_t t = next_.fetch_add(1); t < tasks_; t = next_.fetch_add(1)) (*body_)(t);
  }

  void work(int index) {
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock, [&] { return stop_ || (generation_ != seen && index < active_); });
      if (stop_) return;
      seen = generation_;
      lock.unlock();
      std::exception_ptr error;
      try {
        drain();
      } catch (...) {
        error = std::current_exception();
        next_.store(tasks_);
      }
      lock.lock();
      if (error && !error_) error_ = error;
      if (--pending_ == 0) done_.notify_one();
    }
  }

  std::mutex run_mutex_;  // one call at a time owns the workers
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  const std::function<void(int64_t)>* body_ = nullptr;
  int64_t tasks_ = 0;
  std::atomic<int64_t> next_{0};
  int active_ = 0, pending_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

// The scheduler kernels receive (see Parallel in checks.hpp): threads == 1 starts nothing.
inline void parallel_for(int threads, int64_t tasks, void (*task)(void*, int64_t), void* context) {
  if (threads <= 1 || tasks <= 1) {
    for (int64_t t = 0; t < tasks; ++t) task(context, t);
    return;
  }
  ThreadPool::instance().run(threads, tasks, [task, context](int64_t t) { task(context, t); });
}

}  // namespace detail
}  // namespace swat
