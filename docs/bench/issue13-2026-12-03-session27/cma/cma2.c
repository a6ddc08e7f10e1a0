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
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec/1e9;}
// usage: cma2 SIZE_KiB N REGION_MiB REMOTE_MiB BOUNCE_KiB
int main(int argc,char**argv){
  size_t sz=(size_t)atol(argv[1])<<10; int n=atoi(argv[2]); size_t region=(size_t)atol(argv[3])<<20; size_t rem=(size_t)atol(argv[4])<<20; size_t bsz=(size_t)atol(argv[5])<<10;
  char* src = mmap(0,rem,PROT_READ|PROT_WRITE,MAP_PRIVATE|MAP_ANONYMOUS,-1,0); memset(src,7,rem);
  pid_t child=fork(); if(child==0){ memset(src,8,rem); pause(); return 0; }
  usleep(300000);
  int fd=open("/dev/shm/cmatest",O_RDWR|O_CREAT,0600); ftruncate(fd,region);
  char* dst=mmap(0,region,PROT_READ|PROT_WRITE,MAP_SHARED,fd,0); memset(dst,0,region);
  char* bounce=aligned_alloc(4096,bsz); memset(bounce,0,bsz);
  double t0,t1; size_t off, roff;
  #define LOOP(...) off=0; roff=0; t0=now(); for(int i=0;i<n;i++){ __VA_ARGS__; off+=sz; if(off+sz>region) off=0; roff+=sz; if(roff+sz>rem) roff=0;} t1=now();
  #define REPORT(name) printf("%-28s %7.0f MB/s\n", name, n*(double)sz/(t1-t0)/1e6);
  LOOP({ struct iovec l={dst+off,sz}, r={src+roff,sz}; process_vm_readv(child,&l,1,&r,1,0); }) REPORT("put direct")
  LOOP({ for(size_t c=0;c<sz;c+=bsz){ size_t k=sz-c<bsz?sz-c:bsz; struct iovec l={bounce,k}, r={src+roff+c,k}; process_vm_readv(child,&l,1,&r,1,0); memcpy(dst+off+c,bounce,k);} }) REPORT("put bounce")
  LOOP({ struct iovec l={dst+off,sz}, r={src+roff,sz}; process_vm_writev(child,&l,1,&r,1,0); }) REPORT("get direct")
  LOOP({ for(size_t c=0;c<sz;c+=bsz){ size_t k=sz-c<bsz?sz-c:bsz; memcpy(bounce,dst+off+c,k); struct iovec l={bounce,k}, r={src+roff+c,k}; process_vm_writev(child,&l,1,&r,1,0);} }) REPORT("get bounce")
  LOOP({ struct iovec l={dst+off,sz}, r={src+roff,sz}; process_vm_readv(child,&l,1,&r,1,0); }) REPORT("put direct again")
  LOOP({ struct iovec l={dst+off,sz}, r={src+roff,sz}; process_vm_writev(child,&l,1,&r,1,0); }) REPORT("get direct again")
  LOOP({ memcpy(dst+off,src+roff,sz); }) REPORT("memcpy")
  kill(child,9); unlink("/dev/shm/cmatest"); return 0;
}
