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
// usage: cma4 OP REGION_MiB SLEEP_S   OP: direct|bounce|memcpy|get|getbounce ; region populated+touched+written once by put direct, then sleep, then OP pass
int main(int argc,char**argv){
  const char* op=argv[1]; size_t region=(size_t)atol(argv[2])<<20; int sl=atoi(argv[3]);
  size_t sz=1<<20, rem=64<<20, bsz=256<<10;
  char* src = mmap(0,rem,PROT_READ|PROT_WRITE,MAP_PRIVATE|MAP_ANONYMOUS,-1,0); memset(src,7,rem);
  pid_t child=fork(); if(child==0){ memset(src,8,rem); pause(); return 0; }
  usleep(300000);
  int fd=open("/dev/shm/cmatest",O_RDWR|O_CREAT,0600); ftruncate(fd,region);
  char* dst=mmap(0,region,PROT_READ|PROT_WRITE,MAP_SHARED,fd,0);
  char* bounce=aligned_alloc(4096,bsz); memset(bounce,0,bsz);
  madvise(dst,region,23); memset(dst,1,region);
  for(size_t o=0;o<region;o+=sz){ struct iovec l={dst+o,sz}, r={dst+o,sz}; process_vm_readv(getpid(),&l,1,&r,1,0); }
  sleep(sl);
  size_t off=0, roff=0; int n=region/sz; double a=now();
  for(int i=0;i<n;i++){
    if(!strcmp(op,"direct")){ struct iovec l={dst+off,sz}, r={src+roff,sz}; process_vm_readv(child,&l,1,&r,1,0);}
    else if(!strcmp(op,"memcpy")) memcpy(dst+off,src+roff,sz);
    else if(!strcmp(op,"get")){ struct iovec l={dst+off,sz}, r={src+roff,sz}; process_vm_writev(child,&l,1,&r,1,0);}
    else if(!strcmp(op,"bounce")){ for(size_t c=0;c<sz;c+=bsz){ struct iovec l={bounce,bsz}, r={src+roff+c,bsz}; process_vm_readv(child,&l,1,&r,1,0); memcpy(dst+off+c,bounce,bsz);} }
    else if(!strcmp(op,"getbounce")){ for(size_t c=0;c<sz;c+=bsz){ memcpy(bounce,dst+off+c,bsz); struct iovec l={bounce,bsz}, r={src+roff+c,bsz}; process_vm_writev(child,&l,1,&r,1,0);} }
    else if(!strcmp(op,"crc")){ volatile unsigned long x=0; for(size_t c=0;c<sz;c+=64) x+=*(unsigned long*)(dst+off+c); }
    off+=sz; roff+=sz; if(roff+sz>rem) roff=0; }
  double b=now();
  printf("%-10s after %2d s idle: %6.0f MB/s\n", op, sl, n*(double)sz/(b-a)/1e6);
  kill(child,9); unlink("/dev/shm/cmatest"); return 0;
}
