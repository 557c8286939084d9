mkdir -p t/in && echo in > t/in/f && tar -C t -cf a.tar in && tar -C t -czf a.tar.gz in && rm -rf t setup.sh
