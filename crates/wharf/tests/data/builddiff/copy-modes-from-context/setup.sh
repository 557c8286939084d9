echo x > exe && chmod 755 exe
echo y > ro && chmod 400 ro
mkdir -m 700 private && echo z > private/f
echo s > suid && chmod 4755 suid
