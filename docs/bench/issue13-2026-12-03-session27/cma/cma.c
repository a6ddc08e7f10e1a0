#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/mman.h>
#include <unistd.h>
#include <time.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec/1e9;}
int main(int argc,char**argv){
  size_t sz = (size_t)atol(argv[1])<<10; int n=atoi(argv[2]);
  size_t region=(size_t)atol(argv[3])<<20;
  char* src = aligned_alloc(4096, sz); memset(src, 7, sz);
  int p[2]; pipe(p);
  pid_t child=fork();
  if(child==0){ pause(); return 0; }
  // parent acts as the "node": reads from child's src (same address after fork; child has its own copy COW -> touch in child? child memset not done; pages shared COW, reading fine)
  int fd=open("/dev/shm/cmatest",O_RDWR|O_CREAT,0600); ftruncate(fd,region);
  char* dst=mmap(0,region,PROT_READ|PROT_WRITE,MAP_SHARED,fd,0); memset(dst,0,region);
  double t0=now(); size_t off=0;
  for(int i=0;i<n;i++){ struct iovec l={dst+off,sz}, r={src,sz}; ssize_t k=process_vm_readv(child,&l,1,&r,1,0); if(k!=(ssize_t)sz){perror("cma");return 1;} off+=sz; if(off+sz>region) off=0; }
  double t1=now();
  off=0; for(int i=0;i<n;i++){ memcpy(dst+off,src,sz); off+=sz; if(off+sz>region) off=0;}
  double t2=now();
  printf("size %zu KiB: CMA %.0f MB/s (%.1f us each), memcpy %.0f MB/s\n", sz>>10, n*(double)sz/(t1-t0)/1e6, (t1-t0)/n*1e6, n*(double)sz/(t2-t1)/1e6);
  kill(child,9); unlink("/dev/shm/cmatest"); return 0;
}
