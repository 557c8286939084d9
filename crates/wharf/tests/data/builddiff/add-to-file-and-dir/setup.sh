mkdir t && echo in > t/in && tar -C t -cf a.tar in && rm -rf t
