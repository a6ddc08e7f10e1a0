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
#include <linux/futex.h>
#include <sys/syscall.h>
static int nobody=0;
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec/1e9;}
// usage: cma3 METHOD REGION_MiB SLEEP_S   METHOD: none|self|zero|populate
int main(int argc,char**argv){
  const char* method=argv[1]; size_t region=(size_t)atol(argv[2])<<20; int sl=atoi(argv[3]);
  size_t sz=1<<20, rem=64<<20;
  char* src = mmap(0,rem,PROT_READ|PROT_WRITE,MAP_PRIVATE|MAP_ANONYMOUS,-1,0); memset(src,7,rem);
  pid_t child=fork(); if(child==0){ memset(src,8,rem); pause(); return 0; }
  usleep(300000);
  int fd=open("/dev/shm/cmatest",O_RDWR|O_CREAT,0600); ftruncate(fd,region);
  char* dst=mmap(0,region,PROT_READ|PROT_WRITE,MAP_SHARED,fd,0);
  double t0=now();
  if(!strcmp(method,"populate")||!strcmp(method,"self")||!strcmp(method,"zero")||!strcmp(method,"none")||!strcmp(method,"futex")) madvise(dst,region,23/*MADV_POPULATE_WRITE*/);
  for(size_t o=0;o<region;o+=4096) __atomic_fetch_add((int*)(dst+o),0,__ATOMIC_RELAXED);
  double t1=now();
  if(!strcmp(method,"self")){ for(size_t o=0;o<region;o+=sz){ struct iovec l={dst+o,sz}, r={dst+o,sz}; if(process_vm_readv(getpid(),&l,1,&r,1,0)!=(ssize_t)sz) perror("self"); } }
  if(!strcmp(method,"zero")){ int z=open("/dev/zero",O_RDONLY); for(size_t o=0;o<region;o+=sz){ if(read(z,dst+o,sz)!=(ssize_t)sz) perror("zero"); } }
  if(!strcmp(method,"futex")){ for(size_t o=0;o<region;o+=4096) syscall(SYS_futex,&nobody,FUTEX_WAKE_OP|FUTEX_PRIVATE_FLAG,0,NULL,(int*)(dst+o),FUTEX_OP(FUTEX_OP_ADD,0,FUTEX_OP_CMP_EQ,0)); }
  double t2=now();
  printf("%s: populate+touch %.2f s, warm %.2f s; ", method, t1-t0, t2-t1);
  if(sl) sleep(sl);
  size_t off=0, roff=0; int n=region/sz; double a=now();
  for(int i=0;i<n;i++){ struct iovec l={dst+off,sz}, r={src+roff,sz}; process_vm_readv(child,&l,1,&r,1,0); off+=sz; roff+=sz; if(roff+sz>rem) roff=0; }
  double b=now();
  printf("put direct (one pass, after %d s) %.0f MB/s\n", sl, n*(double)sz/(b-a)/1e6);
  kill(child,9); unlink("/dev/shm/cmatest"); return 0;
}
