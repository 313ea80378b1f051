// persistent.cuh: what the persistent kernels (persistent.cu forward, persistent_backward.cu)
// share: how units and sequences are dealt to blocks and whether a shape pays and fits on the
// chip (the plan, its launch), and the block-wide dot products that split each sum over a group
// of lanes. No kernels here.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda_check.h"

namespace fastrnn {
namespace cuda {

constexpr int kPersistentThreads = 256;
// With the units split over blocks, beyond this many state values (B*H) the per-step cuBLAS
// path is used: every block re-reads the whole state (or its gradient) from L2 at every step.
constexpr int64_t kPersistentMaxState = 32768;
// Beyond this many multiply-adds per block and step (Bt * G * U * H) the step loop's cuBLAS
// products win: the persistent kernels' sums read both operands from shared memory.
constexpr int64_t kPersistentMaxWork = 65536;
// Splitting the units over blocks (a grid barrier per step) pays only for small batches; larger
// ones take the step loop unless whole sequences fit in a block (measured on an H100).
constexpr int64_t kPersistentMaxUnitSplitBatch = 16;

// How a persistent kernel is laid out: the grid is (unit_blocks, batch_blocks); block (x, y)
// owns units [x*U, x*U+U) of sequences [y*Bt, y*Bt+Bt). With one unit block a block owns whole
// sequences and needs no grid barrier (any number of blocks, plain launch); otherwise the batch
// is not split (Bt = B) and the blocks meet at a grid barrier each step (cooperative launch).
struct PersistentPlan {
  int64_t U = 0, Bt = 0;
  int64_t unit_blocks = 0, batch_blocks = 0;
  size_t smem = 0;  // dynamic shared memory per block, bytes
  bool cooperative = false;
};

// Picks a layout for kernel, smem_for(U, Bt) giving a block's shared memory: whole sequences
// per block when all the weights fit in shared memory, else about one block of units per
// multiprocessor. False when the shape is too large for the kernels to pay (the two limits
// above) or the device cannot run it (shared memory, cooperative launch, residency).
template <typename Kernel, typename SmemFor>
bool make_plan(Kernel kernel, int G, int64_t B, int64_t H, SmemFor smem_for, PersistentPlan* plan) {
  int device = 0, sms = 0, cooperative = 0, smem_optin = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), "cudaDeviceGetAttribute");
  check(cudaDeviceGetAttribute(&cooperative, cudaDevAttrCooperativeLaunch, device), "cudaDeviceGetAttribute");
  check(cudaDeviceGetAttribute(&smem_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device), "cudaDeviceGetAttribute");
  if (B < 1 || H < 1) return false;
  PersistentPlan p;
  p.U = H;  // whole sequences per block: Bt of them, spread over the multiprocessors
  p.Bt = (B + sms - 1) / sms;
  p.unit_blocks = 1;
  p.batch_blocks = (B + p.Bt - 1) / p.Bt;
  p.smem = smem_for(p.U, p.Bt);
  if (p.smem > static_cast<size_t>(smem_optin) || p.Bt * G * H * H > kPersistentMaxWork) {
    p.U = (H + sms - 1) / sms;  // units split over blocks, all sequences in each
    p.Bt = B;
    p.unit_blocks = (H + p.U - 1) / p.U;
    p.batch_blocks = 1;
    p.smem = smem_for(p.U, p.Bt);
    p.cooperative = true;
    if (!cooperative || B > kPersistentMaxUnitSplitBatch || B * H > kPersistentMaxState ||
        B * G * p.U * H > kPersistentMaxWork || p.smem > static_cast<size_t>(smem_optin))
      return false;
  }
  check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(p.smem)),
        "cudaFuncSetAttribute");
  if (p.cooperative) {
    int per_sm = 0;
    check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kPersistentThreads, p.smem),
          "cudaOccupancyMaxActiveBlocksPerMultiprocessor");
    if (static_cast<int64_t>(per_sm) * sms < p.unit_blocks) return false;  // a grid barrier needs all resident
  }
  *plan = p;
  return true;
}

// Launches kernel(args) on the plan's grid, cooperatively when its blocks meet at grid barriers.
template <typename Kernel, typename Args>
void launch_plan(Kernel kernel, const PersistentPlan& plan, Args* args, cudaStream_t stream, const char* what) {
  void* params[] = {args};
  const dim3 grid(static_cast<unsigned>(plan.unit_blocks), static_cast<unsigned>(plan.batch_blocks));
  if (plan.cooperative)
    check(cudaLaunchCooperativeKernel(reinterpret_cast<void*>(kernel), grid, dim3(kPersistentThreads), params,
                                      plan.smem, stream), what);
  else
    check(cudaLaunchKernel(reinterpret_cast<void*>(kernel), grid, dim3(kPersistentThreads), params, plan.smem,
                           stream), what);
}

// Lanes per sum: enough groups to keep every thread busy, never more lanes than terms.
__host__ __device__ inline int lanes_per_sum(int64_t sums, int64_t terms, int threads) {
  int S = 32;
  while (S > 1 && (sums * S > 2 * threads || S / 2 >= terms)) S /= 2;
  return S;
}

// For every o < sums: store(o, sum over i < terms of a(o)[i] * b(o)[i]), where a(o) and b(o)
// give the two rows of sum o (a's row read through L2 when A_GLOBAL: other blocks wrote it).
// Each sum belongs to a group of S consecutive lanes (S divides 32) that splits i and adds up
// with shuffles; the loop bounds are the same for every thread, so every lane takes part in
// every shuffle. Indices are 32-bit: a block's share always fits.
template <typename T, bool A_GLOBAL, typename RowA, typename RowB, typename Store>
__device__ __forceinline__ void block_dots(int sums, int terms, int S, RowA row_a, RowB row_b, Store store) {
  const int groups = blockDim.x / S, lane = threadIdx.x % S;
  for (int base = 0; base < sums; base += groups) {
    const int o = base + threadIdx.x / S;
    T sum = T(0);
    if (o < sums) {
      const T* ra = row_a(o);
      const T* rb = row_b(o);
      for (int i = lane; i < terms; i += S) sum += (A_GLOBAL ? __ldcg(ra + i) : ra[i]) * rb[i];
    }
    for (int offset = S / 2; offset > 0; offset /= 2) sum += __shfl_down_sync(0xffffffffu, sum, offset);
    if (o < sums && lane == 0) store(o, sum);
  }
}

}  // namespace cuda
}  // namespace fastrnn
